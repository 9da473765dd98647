from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import AttachmentState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_workflow')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Attachment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('uploader', fields.ForeignKeyField('models.User', source_field='uploader_id', db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.RESTRICT)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.CASCADE)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.CASCADE)),
                ('filename', fields.CharField(max_length=255)),
                ('content_type', fields.CharField(max_length=100)),
                ('size', fields.BigIntField()),
                ('storage_key', fields.CharField(unique=True, max_length=100)),
                ('state', fields.CharEnumField(default=AttachmentState.UPLOADED, description='UPLOADED: UPLOADED\nLINKED: LINKED', enum_type=AttachmentState, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'attachments', 'app': 'models', 'indexes': [Index(fields=['uploader_id', 'state']), Index(fields=['state', 'expires_at'])], 'pk_attr': 'id', 'table_description': "An uploaded file: the uploader's until linked to a ticket (and a message)."},
            bases=['Model'],
        ),
    ]
