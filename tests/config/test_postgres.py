"""Timestamps read from PostgreSQL: parsed in C, with the values Django's loader gives."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from config.postgres import HAS_C_PARSER, TIMESTAMPTZ_OID, timestamp_loader

# microseconds, an offset other than the session's, the ends of the range, a leap day
LITERALS = [
    "2026-11-27 11:29:55.123456+00",
    "2026-03-29 01:30:00.000001+02",
    "2026-10-25 02:59:59.999999-05:30",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2028-02-29 12:00:00+00",
]


def _read(cursor, literals: list[str] = LITERALS) -> list[dt.datetime]:
    cursor.execute(
        "SELECT value::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS t(value, n) "
        "ORDER BY n",
        [literals],
    )
    return [value for (value,) in cursor.fetchall()]


@pytest.mark.django_db
def test_a_connection_parses_timestamps_in_c_with_the_values_djangos_loader_gives():
    assert HAS_C_PARSER, "psycopg-binary is in requirements.lock"
    connection.ensure_connection()
    with connection.cursor() as cursor:
        loader = cursor.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        assert loader.__module__ == "config.postgres"
        # what Django compares before each cursor: no cursor copies the adapters
        assert loader.timezone == connection.timezone
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is loader
        fast = _read(cursor)
    with connection.cursor() as cursor:
        register_tzloader(connection.timezone, cursor.cursor)  # Django's own, this cursor
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is not loader
        django = _read(cursor)
    assert fast == django
    # the very zone object Django's loader gives, not an equal one
    assert all(f.tzinfo is d.tzinfo for f, d in zip(fast, django, strict=True))
    assert fast[0] == dt.datetime(2026, 11, 27, 11, 29, 55, 123456, tzinfo=dt.UTC)
    assert fast[1] == dt.datetime(2026, 3, 28, 23, 30, 0, 1, tzinfo=dt.UTC)
    assert fast[2] == dt.datetime(2026, 10, 25, 8, 29, 59, 999999, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_in_a_session_of_another_time_zone_values_get_that_zone():
    """A database configured with its own TIME_ZONE: the session's offsets are read as
    the connection's zone, as Django's loader reads them."""
    berlin = ZoneInfo("Europe/Berlin")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'Europe/Berlin'")
        cursor.cursor.adapters.register_loader(TIMESTAMPTZ_OID, timestamp_loader(berlin))
        # not the year 9999, which Berlin's offset takes past what Python can hold
        fast = _read(cursor, LITERALS[:3])
        register_tzloader(berlin, cursor.cursor)
        django = _read(cursor, LITERALS[:3])
    assert fast == django
    assert all(f.tzinfo is berlin for f in fast)
    assert (fast[0].hour, fast[0].utcoffset()) == (12, dt.timedelta(hours=1))
