from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import EventKind, FaqKind, RequestStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FaqEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slug', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharEnumField(description='FAQ: FAQ\nTIP: TIP', enum_type=FaqKind, max_length=8)),
                ('position', fields.IntField(default=0)),
                ('question_ru', fields.TextField(unique=False)),
                ('question_en', fields.TextField(unique=False)),
                ('answer_ru', fields.TextField(unique=False)),
                ('answer_en', fields.TextField(unique=False)),
            ],
            options={'table': 'faq_entries', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Seeded Help-page FAQ answers and tips, in Russian and English.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecategorizationRequest',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='recategorization_requests', on_delete=OnDelete.CASCADE)),
                ('requested_by', fields.ForeignKeyField('models.User', source_field='requested_by_id', db_constraint=True, to_field='id', related_name='recategorization_requests', on_delete=OnDelete.RESTRICT)),
                ('from_category_id', fields.IntField()),
                ('to_category_id', fields.IntField()),
                ('status', fields.CharEnumField(default=RequestStatus.PENDING, description='PENDING: PENDING\nAPPROVED: APPROVED\nDECLINED: DECLINED\nCANCELLED: CANCELLED', enum_type=RequestStatus, max_length=16)),
                ('comment', fields.TextField(null=True, unique=False)),
                ('decided_by_id', fields.CharField(null=True, max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'recategorization_requests', 'app': 'models', 'indexes': [Index(fields=['ticket_id', 'status'])], 'pk_attr': 'id', 'table_description': "A customer's wish to change the category of a ticket in work, decided by the agent."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Ticket',
            name='solution_message_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AlterField(
            model_name='TicketEvent',
            name='kind',
            field=fields.CharEnumField(description='CREATED: CREATED\nSTATUS_CHANGED: STATUS_CHANGED\nMESSAGE_ADDED: MESSAGE_ADDED\nCATEGORY_CHANGED: CATEGORY_CHANGED\nRECATEGORIZATION_REQUESTED: RECATEGORIZATION_REQUESTED\nRECATEGORIZATION_DECLINED: RECATEGORIZATION_DECLINED\nASSIGNED: ASSIGNED\nURGENCY_CHANGED: URGENCY_CHANGED\nSOLUTION_MARKED: SOLUTION_MARKED', enum_type=EventKind, max_length=32),
        ),
        ops.AddField(
            model_name='TicketEvent',
            name='comment',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='TicketEvent',
            name='from_assignee_id',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddField(
            model_name='TicketEvent',
            name='request_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='TicketEvent',
            name='to_assignee_id',
            field=fields.CharField(null=True, max_length=128),
        ),
    ]
