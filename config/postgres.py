"""PostgreSQL timestamps read by psycopg's C parser.

Django's PostgreSQL backend registers its own loader for `timestamptz` on every
connection: a subclass of psycopg's pure-Python loader, which puts the connection's time
zone on each value (Django ticket #36960). psycopg's C loader, from psycopg-binary, cannot
be subclassed, so Django never uses it, and every timestamp read pays for Python parsing:
5 to 6 microseconds a value here, against about 2 with the C parser. A batch of 1,000
engagement events reads some 12,000 timestamps (the leads' own and their histories').

`use_c_timestamps` (connected to `connection_created`) registers on each new PostgreSQL
connection a loader that parses with the C loader and then does what Django's does: the
value, already in the session's time zone (Django sets it to the connection's), gets the
connection's time zone object, unless it has it already (in a UTC session the parser
gives UTC itself). Its `timezone` attribute is the one Django compares before each
cursor, so no cursor registers a loader of its own. Without psycopg-binary nothing
changes.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db.models import ForeignObject
from django.db.models.expressions import ColPairs
from django.db.models.fields import Field
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In
from psycopg.adapt import Loader
from psycopg.postgres import types
from psycopg.pq import Format

TIMESTAMPTZ_OID = types["timestamptz"].oid
# psycopg's global map holds the C loader when psycopg-binary is installed
_PARSER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
HAS_C_PARSER = _PARSER is not None and _PARSER.__module__.startswith("psycopg_binary")


@functools.cache
def timestamp_loader(timezone: dt.tzinfo | None) -> type[Loader]:
    """The loader class for a connection whose time zone is `timezone` (None: naive
    values, as Django reads them with USE_TZ off)."""

    class CTimestampLoader(Loader):
        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._parse = _PARSER(oid, context).load

        def load(self, data: Any) -> dt.datetime:
            value = self._parse(data)
            # in a UTC session (Django's default) the parser already gives UTC itself,
            # and replacing it would cost four times the parsing
            return value if value.tzinfo is timezone else value.replace(tzinfo=timezone)

    CTimestampLoader.timezone = timezone  # what Django compares before each cursor
    return CTimestampLoader


def use_c_timestamps(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor != "postgresql" or not HAS_C_PARSER:
        return
    loader = timestamp_loader(connection.timezone)
    connection.connection.adapters.register_loader(TIMESTAMPTZ_OID, loader)


# --- `field__in=[...]` as one array parameter ------------------------------------------

# the array type a list of values is compared as, by the field's internal type (a field
# not named here keeps Django's IN list): every integer as bigint (an integer column
# compares with it through PostgreSQL's cross-type operators, and its indexes serve them)
# and text as text (a varchar(n) cast would cut a longer value short, and it could match)
_ARRAY_TYPES = {
    **dict.fromkeys(
        (
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
        ),
        "bigint",
    ),
    **dict.fromkeys(("CharField", "TextField", "EmailField", "SlugField", "URLField"), "text"),
    "DateField": "date",
    "UUIDField": "uuid",
}
_BIGINT = range(-(2**63), 2**63)


def _array_type(field: Any) -> str | None:
    while getattr(field, "is_relation", False) and getattr(field, "target_field", None):
        field = field.target_field
    internal = field.get_internal_type() if hasattr(field, "get_internal_type") else None
    if internal == "DateTimeField":
        return "timestamptz" if settings.USE_TZ else "timestamp"
    return _ARRAY_TYPES.get(internal)


class ArrayInMixin:
    """On PostgreSQL, `field__in=[...]` as `field = ANY(%s::type[])`, the values in one
    array parameter: the same rows and the same plan (PostgreSQL reads an IN list as
    `= ANY(ARRAY[...])`), without a placeholder per value. Django writes one `%s` per
    value, and psycopg, binding on the client, then splits the whole statement at each
    of them: with a thousand ids, about 5 ms of Python a query here against 1 ms as an
    array, and the statement PostgreSQL parses shrinks as much. A batch of events reads
    its thousand leads, their accounts, histories and repeats by such lists.

    Only plain values of the fields in _ARRAY_TYPES take this form; expressions,
    subqueries, transforms applied to both sides, tuples of columns, integers beyond
    bigint and other databases keep Django's IN list."""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        # by now a list of prepared values, or (a subquery, values mixed with
        # expressions: an ExpressionList) something with SQL of its own
        array_type = (
            _array_type(self.lhs.output_field)
            if connection.vendor == "postgresql"
            and self.rhs_is_direct_value()
            and not self.bilateral_transforms
            and not isinstance(self.lhs, ColPairs)
            else None
        )
        if array_type is None:
            return super().as_sql(compiler, connection)
        values = [value for value in dict.fromkeys(self.rhs) if value is not None]
        if not values:
            raise EmptyResultSet
        _, params = self.batch_process_rhs(compiler, connection, values)
        if array_type == "bigint" and not all(isinstance(p, int) and p in _BIGINT for p in params):
            return super().as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::{array_type}[])", [*lhs_params, list(params)]


class ArrayIn(ArrayInMixin, In):
    pass


class RelatedArrayIn(ArrayInMixin, RelatedIn):
    pass


def use_array_in() -> None:
    """Every field's `in` lookup (a foreign key's too) as ArrayIn: called once, when the
    app registry is ready (leads.apps)."""
    Field.register_lookup(ArrayIn)
    ForeignObject.register_lookup(RelatedArrayIn)
