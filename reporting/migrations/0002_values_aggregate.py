"""handoff_values(double precision): a group's values as an array, in no order, that
PostgreSQL collects in parallel workers and combines (array_cat), answered in the binary
form of an array (array_send), which numpy reads as it is. The reports' medians and 90th
percentiles are taken from these values (reporting.selectors.Values, _grouped_sets).
PostgreSQL 15's array_agg has no combine function, so a query using it collects every
row in one process; percentile_cont, an ordered-set aggregate, does too."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE AGGREGATE handoff_values(double precision) (
    SFUNC = array_append,
    STYPE = double precision[],
    COMBINEFUNC = array_cat,
    FINALFUNC = array_send,
    PARALLEL = SAFE,
    -- a small state: the planner then hashes the groups in each worker, as it would
    -- for counts (its default guess for an array made it sort the rows first)
    SSPACE = 100
)
"""
DROP = "DROP AGGREGATE IF EXISTS handoff_values(double precision)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("reporting", "0001_targets")]

    operations = [migrations.RunPython(create, drop)]
