from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import EventKind, Role, TicketStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Category',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slug', fields.CharField(unique=True, max_length=64)),
                ('name_ru', fields.CharField(max_length=200)),
                ('name_en', fields.CharField(max_length=200)),
                ('parent', fields.ForeignKeyField('models.Category', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT)),
                ('position', fields.IntField(default=0)),
            ],
            options={'table': 'categories', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A section, or a question type inside a section. Tickets belong to leaves.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Counter',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('value', fields.BigIntField(default=0)),
            ],
            options={'table': 'counters', 'app': 'models', 'pk_attr': 'name', 'table_description': 'Named gap-free counters (ticket numbers), incremented inside the writing transaction.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('name', fields.CharField(default='', max_length=200)),
                ('role', fields.CharEnumField(default=Role.CUSTOMER, description='CUSTOMER: customer\nAGENT: agent\nADMIN: admin', enum_type=Role, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A person known from a valid token, created on first sight.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MutationReceipt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='receipts', on_delete=OnDelete.CASCADE)),
                ('operation', fields.CharField(max_length=64)),
                ('client_mutation_id', fields.CharField(max_length=128)),
                ('ticket_id', fields.BigIntField(null=True)),
                ('message_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mutation_receipts', 'app': 'models', 'unique_together': (('user_id', 'operation', 'client_mutation_id'),), 'pk_attr': 'id', 'table_description': 'Remembers a `clientMutationId` so a retried mutation returns its first result.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Ticket',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.BigIntField(unique=True)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.RESTRICT)),
                ('category', fields.ForeignKeyField('models.Category', source_field='category_id', db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.RESTRICT)),
                ('summary', fields.CharField(max_length=200)),
                ('question', fields.TextField(unique=False)),
                ('search_text', fields.TextField(unique=False)),
                ('urgent', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(default=TicketStatus.OPEN, description='OPEN: OPEN\nIN_PROGRESS: IN_PROGRESS\nAWAITING_REPLY: AWAITING_REPLY\nCLOSED: CLOSED\nREJECTED: REJECTED', enum_type=TicketStatus, max_length=16)),
                ('rejection_reason', fields.TextField(null=True, unique=False)),
                ('assignee', fields.ForeignKeyField('models.User', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='assigned_tickets', on_delete=OnDelete.RESTRICT)),
                ('follow_up_of', fields.ForeignKeyField('models.Ticket', source_field='follow_up_of_id', null=True, db_constraint=True, to_field='id', related_name='follow_ups', on_delete=OnDelete.SET_NULL)),
                ('version', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'tickets', 'app': 'models', 'indexes': [Index(fields=['owner_id', 'created_at', 'id']), Index(fields=['created_at', 'id']), Index(fields=['updated_at', 'id']), Index(fields=['status', 'created_at']), Index(fields=['category_id', 'created_at']), Index(fields=['assignee_id', 'created_at']), Index(fields=['urgent', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.RESTRICT)),
                ('body', fields.TextField(unique=False)),
                ('internal', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'messages', 'app': 'models', 'indexes': [Index(fields=['ticket_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One turn of the conversation. Internal notes are for agents only.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='CREATED: CREATED\nSTATUS_CHANGED: STATUS_CHANGED\nMESSAGE_ADDED: MESSAGE_ADDED\nCATEGORY_CHANGED: CATEGORY_CHANGED\nRECATEGORIZATION_REQUESTED: RECATEGORIZATION_REQUESTED\nRECATEGORIZATION_DECLINED: RECATEGORIZATION_DECLINED\nASSIGNED: ASSIGNED\nURGENCY_CHANGED: URGENCY_CHANGED', enum_type=EventKind, max_length=32)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.RESTRICT)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('from_status', fields.CharEnumField(null=True, description='OPEN: OPEN\nIN_PROGRESS: IN_PROGRESS\nAWAITING_REPLY: AWAITING_REPLY\nCLOSED: CLOSED\nREJECTED: REJECTED', enum_type=TicketStatus, max_length=16)),
                ('to_status', fields.CharEnumField(null=True, description='OPEN: OPEN\nIN_PROGRESS: IN_PROGRESS\nAWAITING_REPLY: AWAITING_REPLY\nCLOSED: CLOSED\nREJECTED: REJECTED', enum_type=TicketStatus, max_length=16)),
                ('from_category_id', fields.IntField(null=True)),
                ('to_category_id', fields.IntField(null=True)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('internal', fields.BooleanField(default=False)),
                ('data', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'ticket_events', 'app': 'models', 'indexes': [Index(fields=['ticket_id', 'id'])], 'pk_attr': 'id', 'table_description': 'The history of a ticket. Its monotonic id is the cursor live updates resume from.'},
            bases=['Model'],
        ),
    ]
