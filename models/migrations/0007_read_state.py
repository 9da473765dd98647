"""Read state: how far each person has read each ticket (one row per user and ticket, unique),
with an index on the ticket for the cascade when a ticket goes.

Unread counts read a ticket's message events by (ticket_id, id). That index is declared since
0001, but on SQLite the table rebuild of 0006 (altering `kind`) lost it; it is created again here
under the name PostgreSQL already has (a no-op there)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_service_levels')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TicketRead',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='ticket_reads', on_delete=OnDelete.CASCADE)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='reads', on_delete=OnDelete.CASCADE)),
                ('last_event_id', fields.BigIntField()),
                ('last_read_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ticket_reads', 'app': 'models', 'unique_together': (('user_id', 'ticket_id'),), 'indexes': [Index(fields=['ticket_id'])], 'pk_attr': 'id', 'table_description': 'How far one person has read one ticket (services/read_state.py): every event up to'},
            bases=['Model'],
        ),
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_ticket_even_ticket__696d49" '
            'ON "ticket_events" ("ticket_id", "id")',
        ),
    ]
