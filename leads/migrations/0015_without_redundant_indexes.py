"""Indexes every write paid for and no read used (PostgreSQL; SQLite has only the first).

- A lead's events, stage changes and an owner's leads were indexed twice: by the foreign
  key alone and by a composite index that starts with it (event_lead_time,
  stage_change_lead_at, lead_owner_stage), which serves every lookup the single one did.
- An event's external id and a lead's stage had a second, pattern-matching copy
  (varchar_pattern_ops, which Django adds for LIKE 'x%' on PostgreSQL): both are only
  ever matched exactly, and the admin's search by external id (ILIKE '%x%') cannot use
  it.

Inserting 3,000 events took 94 to 113 ms with the five indexes of the event table and
46 to 59 ms with the three left (docs/benchmarks.md)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (table, column) whose pattern-matching copy goes
LIKE_COPIES = [("leads_engagementevent", "external_id"), ("leads_lead", "stage")]


def _like_name(schema_editor, table: str, column: str) -> str:
    # the name Django gave it when it made it
    return schema_editor._create_index_name(table, [column], suffix="_like")


def drop_like_copies(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in LIKE_COPIES:
        name = schema_editor.quote_name(_like_name(schema_editor, table, column))
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def restore_like_copies(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in LIKE_COPIES:
        name = schema_editor.quote_name(_like_name(schema_editor, table, column))
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {schema_editor.quote_name(table)} "
            f"({schema_editor.quote_name(column)} varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0014_lead_routed_team"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="engagementevent",
            name="lead",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="leads.lead",
            ),
        ),
        migrations.AlterField(
            model_name="lead",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="owned_leads",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="stagechange",
            name="lead",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="stage_changes",
                to="leads.lead",
            ),
        ),
        migrations.RunPython(drop_like_copies, restore_like_copies),
    ]
