"""On PostgreSQL the audit trail refuses UPDATE and DELETE in the database itself, so not
even raw SQL or a future code path can rewrite history. (TRUNCATE, used only by test
teardown and full resets, is not a row change and stays possible.)"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION leads_stagechange_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'leads_stagechange is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER leads_stagechange_append_only
    BEFORE UPDATE OR DELETE ON leads_stagechange
    FOR EACH ROW EXECUTE FUNCTION leads_stagechange_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS leads_stagechange_append_only ON leads_stagechange;
DROP FUNCTION IF EXISTS leads_stagechange_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_relations")]

    operations = [migrations.RunPython(forwards, backwards)]
