"""Receipts remember a fingerprint of the request first sent with their clientMutationId, so the
same key with another request is refused instead of answered with the first result."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_search_index')]

    initial = False

    operations = [
        ops.AddField(
            model_name='MutationReceipt',
            name='fingerprint',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
