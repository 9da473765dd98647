"""Service levels and satisfaction: SLA policies (seeded by `models.db.seed_sla_policies`), the due
times on every ticket with the indexes the SLA order and the breach scheduler read, and ratings.
The new NOT NULL columns have database defaults, so existing tickets (and bulk loads) get them."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import datetime
from models.enums import EventKind
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_receipt_fingerprint')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SatisfactionRating',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.OneToOneField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='satisfaction', on_delete=OnDelete.CASCADE)),
                ('score', fields.SmallIntField()),
                ('comment', fields.TextField(null=True, unique=False)),
                ('rated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'satisfaction_ratings', 'app': 'models', 'indexes': [Index(fields=['rated_at'])], 'pk_attr': 'id', 'table_description': "The owner's rating of a closed ticket (CSAT), replaced by rating again."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SlaPolicy',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('category', fields.ForeignKeyField('models.Category', source_field='category_id', db_constraint=True, to_field='id', related_name='sla_policies', on_delete=OnDelete.RESTRICT)),
                ('urgent', fields.BooleanField()),
                ('first_response_minutes', fields.IntField()),
                ('resolution_minutes', fields.IntField()),
                ('business_hours', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('replaced_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sla_policies', 'app': 'models', 'indexes': [Index(fields=['category_id', 'urgent', 'replaced_at'])], 'pk_attr': 'id', 'table_description': 'Due times for the tickets of one leaf category and urgency.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Ticket',
            name='first_responded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='first_response_breached',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='first_response_due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='resolution_breached',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='resolution_due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='sla_check_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='sla_due_at',
            field=fields.DatetimeField(default=datetime.datetime.fromisoformat('9999-12-31T00:00:00+00:00'), db_default=datetime.datetime.fromisoformat('9999-12-31T00:00:00+00:00'), auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='sla_paused_seconds',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Ticket',
            name='sla_paused_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='sla_policy',
            field=fields.ForeignKeyField('models.SlaPolicy', source_field='sla_policy_id', null=True, db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['sla_due_at', 'id']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['sla_check_at']),
        ),
        ops.AlterField(
            model_name='TicketEvent',
            name='kind',
            field=fields.CharEnumField(description='CREATED: CREATED\nSTATUS_CHANGED: STATUS_CHANGED\nMESSAGE_ADDED: MESSAGE_ADDED\nCATEGORY_CHANGED: CATEGORY_CHANGED\nRECATEGORIZATION_REQUESTED: RECATEGORIZATION_REQUESTED\nRECATEGORIZATION_DECLINED: RECATEGORIZATION_DECLINED\nASSIGNED: ASSIGNED\nURGENCY_CHANGED: URGENCY_CHANGED\nSOLUTION_MARKED: SOLUTION_MARKED\nRATED: RATED\nSLA_RETARGETED: SLA_RETARGETED\nSLA_BREACHED: SLA_BREACHED', enum_type=EventKind, max_length=32),
        ),
    ]
