"""The laid-out timeline must answer exactly as the day-by-day functions do."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.business_time import (
    Calendar,
    Timeline,
    add_business_time,
    business_time_between,
)

BERLIN = Calendar(
    time_zone="Europe/Berlin",
    holidays=frozenset({dt.date(2026, 4, 3), dt.date(2026, 4, 6), dt.date(2026, 12, 25)}),
)
TIMELINE = Timeline(BERLIN, dt.date(2025, 12, 1), dt.date(2027, 3, 1))

instants = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 31)).map(
    lambda d: d.replace(tzinfo=dt.UTC)
)
durations = st.integers(min_value=0, max_value=40 * 8 * 60).map(lambda m: dt.timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(start=instants, duration=durations)
def test_it_adds_exactly_as_add_business_time(start, duration):
    assert TIMELINE.add(start, duration) == add_business_time(start, duration, BERLIN)


@settings(max_examples=300, deadline=None)
@given(a=instants, b=instants)
def test_it_measures_exactly_as_business_time_between(a, b):
    assert TIMELINE.between(a, b) == business_time_between(a, b, BERLIN)


def test_it_refuses_instants_outside_its_range():
    with pytest.raises(ValueError, match="outside this timeline"):
        TIMELINE.position(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))


def test_friday_afternoon_plus_four_hours_is_monday_noon():
    friday = dt.datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN.zone)

    assert TIMELINE.add(friday, dt.timedelta(hours=4)) == dt.datetime(
        2026, 11, 23, 12, 0, tzinfo=BERLIN.zone
    )
