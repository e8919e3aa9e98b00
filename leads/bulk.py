"""Writing many rows' columns in one statement.

Django's `bulk_update` builds a CASE WHEN expression per row and column, which costs
more Python time than the write itself for a thousand leads. On PostgreSQL the values go
as one array per column instead (`UPDATE ... FROM unnest(...)`), with the same effect;
other databases (SQLite in the quick start) keep `bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router


def update_columns(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write `fields` of every object in `objs` (all of one model) by primary key, in one
    statement. Returns the number of rows written. Signals and `auto_now` are not
    applied, as with `bulk_update`."""
    if not objs:
        return 0
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return model._default_manager.using(alias).bulk_update(objs, fields)
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in [pk, *columns])
    names = ", ".join(quote(f.column) for f in [pk, *columns])
    params = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objs]
        for f in [pk, *columns]
    ]
    key = quote(pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
            f"FROM unnest({arrays}) AS v({names}) WHERE t.{key} = v.{key}",
            params,
        )
        return cursor.rowcount


def attach_related(objs: Sequence[models.Model], names: Sequence[str]) -> None:
    """Give every object in `objs` (all of one model) its related objects through the
    foreign keys `names`, each model's few rows read once (one query per name) rather
    than joined to every row: building the same owner, policy or product line again for
    each of a thousand rows cost more than the reads."""
    if not objs:
        return
    meta = type(objs[0])._meta
    for name in names:
        field = meta.get_field(name)
        ids = {getattr(obj, field.attname) for obj in objs} - {None}
        found = field.related_model._default_manager.in_bulk(ids) if ids else {}
        for obj in objs:
            value = getattr(obj, field.attname)
            setattr(obj, name, None if value is None else found.get(value))
