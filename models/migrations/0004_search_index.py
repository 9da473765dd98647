"""A trigram index for the history's `search` filter (LIKE '%word%') on PostgreSQL.

SQLite has no such index and keeps scanning; the operation does nothing there.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEX = "tickets_search_text_trgm"


async def create_search_index(apps, schema_editor):
    if schema_editor.client.capabilities.dialect != "postgres":
        return
    await schema_editor._run_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    await schema_editor._run_sql(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON tickets USING gin (search_text gin_trgm_ops)"
    )


async def drop_search_index(apps, schema_editor):
    if schema_editor.client.capabilities.dialect != "postgres":
        return
    # The extension stays: other objects may use it.
    await schema_editor._run_sql(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [('models', '0003_attachments')]

    initial = False

    operations = [
        ops.RunPython(create_search_index, drop_search_index),
    ]
