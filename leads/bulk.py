"""Writing many rows in one statement.

Django's `bulk_update` builds a CASE WHEN expression per row and column, and its
`bulk_create` on PostgreSQL passes one array per column, which psycopg quotes value by
value in Python: for a thousand rows either costs more Python time than the write itself.
On PostgreSQL the rows go instead as one JSON document, encoded in C by the standard
library and unpacked by the server (`jsonb_to_recordset`), with the same effect; other
databases (SQLite in the quick start), and models with a field this module does not know
how to encode, keep Django's own methods.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models, router
from django.db.models.fields import NOT_PROVIDED
from django.utils.functional import Promise

# a field's value as it goes into the JSON rows
Encoder = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _interval(value: dt.timedelta | None) -> str | None:
    if value is None:
        return None
    # PostgreSQL's interval input; days, seconds and microseconds stay exact
    return f"{value.days} days {value.seconds} seconds {value.microseconds} microseconds"


def _encoder(field: models.Field, connection: Any) -> Encoder | None:
    """How `field`'s values are written, or None for a field left to Django."""
    if isinstance(field, models.ForeignKey):
        return _encoder(field.target_field, connection)
    if isinstance(field, models.DateTimeField):

        def moment(value: dt.datetime | None) -> str | None:
            if value is not None and value.tzinfo is None:
                value = field.get_db_prep_save(value, connection)  # made aware, as Django does
            return None if value is None else value.isoformat()

        return moment
    if isinstance(field, models.DateField | models.TimeField):
        return lambda value: None if value is None else value.isoformat()
    if isinstance(field, models.DurationField):
        return _interval
    if isinstance(field, models.UUIDField):
        return lambda value: None if value is None else str(value)
    if isinstance(field, models.DecimalField):
        return lambda value: (
            None if value is None else str(field.get_db_prep_save(value, connection))
        )
    if isinstance(field, models.JSONField):
        return _same if field.encoder is None else None
    if isinstance(
        field, models.CharField | models.TextField | models.IntegerField | models.BooleanField
    ):
        return _same
    return None


def _recordset(fields: Sequence[models.Field], connection: Any) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
    return f"jsonb_to_recordset(%s::jsonb) AS v({columns})"


def _text(value: Any) -> str:
    # a lazily translated string, as Django's text fields take it; anything else is
    # refused as Django's JSON encoder refuses it
    if isinstance(value, Promise):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _document(
    objs: Sequence[models.Model], fields: Sequence[models.Field], encoders: Sequence[Encoder]
) -> str:
    """The objects' `fields` as one JSON array of rows keyed by column."""
    pairs = list(zip(fields, encoders, strict=True))
    rows = [{f.column: encode(getattr(obj, f.attname)) for f, encode in pairs} for obj in objs]
    return json.dumps(rows, separators=(",", ":"), default=_text)


def insert_rows(objs: Sequence[models.Model]) -> list[models.Model]:
    """Insert new objects (all of one model) in one statement and give them their
    primary keys, as `bulk_create` does (no signals, `auto_now_add` applied)."""
    if not objs:
        return []
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    encoders = [_encoder(f, connection) for f in fields]
    if (
        connection.vendor != "postgresql"
        or None in encoders
        or any(f.db_default is not NOT_PROVIDED or f.db_returning for f in fields)
        or any(obj.pk is not None for obj in objs)
    ):
        return model._default_manager.using(alias).bulk_create(objs)
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    keys = [f.attname for f in fields if f.is_relation]
    for obj in objs:
        if any(getattr(obj, attname) is None for attname in keys):
            # as bulk_create: a related object saved since it was given, or refused if
            # it is still unsaved
            obj._prepare_related_fields_for_save(operation_name="insert_rows")
        for field in stamped:
            field.pre_save(obj, True)
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT {names} FROM "
            f"{_recordset(fields, connection)} RETURNING {quote(meta.pk.column)}",
            [_document(objs, fields, encoders)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = alias
    return list(objs)


def update_columns(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write `fields` of every object in `objs` (all of one model) by primary key, in one
    statement. Returns the number of rows written. Signals and `auto_now` are not
    applied, as with `bulk_update`."""
    if not objs:
        return 0
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    encoders = [_encoder(f, connection) for f in columns]
    if connection.vendor != "postgresql" or None in encoders:
        return model._default_manager.using(alias).bulk_update(objs, fields)
    quote = connection.ops.quote_name
    key = quote(meta.pk.column)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
            f"FROM {_recordset(columns, connection)} WHERE t.{key} = v.{key}",
            [_document(objs, columns, encoders)],
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
        # put in the relation's cache, as select_related does: the key is already the
        # object's (assigning through the descriptor checks and sets it again, a
        # noticeable share of a batch's Python at three relations of a thousand leads)
        for obj in objs:
            value = getattr(obj, field.attname)
            field.set_cached_value(obj, None if value is None else found.get(value))
