"""Room on each page of the lead table for updated rows (PostgreSQL).

A lead is rewritten often (scores on every batch of events, owner and due time on every
routing and clock change), and none of those columns is indexed: with free room on its
page, PostgreSQL writes the new row version beside the old one and touches none of the
table's indexes (a heap-only update). A table filled to the brim, as after a bulk load,
moves every updated row to another page and adds it to every index."""

from django.db import migrations

FILLFACTOR = 85


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE leads_lead SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE leads_lead RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("leads", "0012_follow_up_index")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
