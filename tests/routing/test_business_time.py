from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.business_time import Calendar, add_business_time, business_time_between

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

OFFICE = Calendar(time_zone="Europe/Berlin")
NEW_YORK_OFFICE = Calendar(time_zone="America/New_York")
# Whit Monday is a public holiday in Germany.
OFFICE_WITH_HOLIDAYS = Calendar(
    time_zone="Europe/Berlin", holidays=frozenset({date(2026, 5, 25), date(2026, 12, 25)})
)
# A night shift, every day, whose hours contain the DST changes (02:00-03:00 local).
NIGHT_SHIFT = Calendar(
    time_zone="Europe/Berlin", working_days=frozenset(range(7)), start=time(0), end=time(6)
)

H = timedelta(hours=1)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def real_time(a: datetime, b: datetime) -> timedelta:
    # Subtracting datetimes of the same zone gives wall-clock time, not elapsed time.
    return b.astimezone(UTC) - a.astimezone(UTC)


def test_it_carries_over_the_weekend() -> None:
    # 2026-01-09 is a Friday.
    assert add_business_time(berlin(2026, 1, 9, 16), 4 * H, OFFICE) == berlin(2026, 1, 12, 12)


def test_it_ends_at_closing_time_rather_than_the_next_opening() -> None:
    result = add_business_time(berlin(2026, 1, 9, 13), 4 * H, OFFICE)

    assert result == berlin(2026, 1, 9, 17)


def test_it_counts_from_opening_when_started_before_opening() -> None:
    assert add_business_time(berlin(2026, 1, 12, 7, 30), H, OFFICE) == berlin(2026, 1, 12, 10)


def test_it_counts_from_the_next_opening_when_started_after_closing() -> None:
    assert add_business_time(berlin(2026, 1, 12, 18), H, OFFICE) == berlin(2026, 1, 13, 10)


def test_it_counts_from_monday_when_started_on_a_saturday() -> None:
    assert add_business_time(berlin(2026, 1, 10, 11), H, OFFICE) == berlin(2026, 1, 12, 10)


def test_it_skips_a_holiday_monday() -> None:
    result = add_business_time(berlin(2026, 5, 22, 16), 4 * H, OFFICE_WITH_HOLIDAYS)

    assert result == berlin(2026, 5, 26, 12)


def test_it_returns_the_start_for_a_zero_duration_even_on_a_saturday() -> None:
    saturday = berlin(2026, 1, 10, 11)

    assert add_business_time(saturday, timedelta(0), OFFICE) == saturday


def test_it_answers_in_the_calendars_zone_whatever_the_zone_of_the_start() -> None:
    result = add_business_time(datetime(2026, 1, 12, 8, tzinfo=UTC), H, OFFICE)

    assert result == berlin(2026, 1, 12, 10)
    assert result.tzinfo == BERLIN


def test_it_lands_ten_business_days_later() -> None:
    # Monday 2026-01-05 09:00 + 10 days of 8 hours: the second Friday at closing time.
    assert add_business_time(berlin(2026, 1, 5, 9), 80 * H, OFFICE) == berlin(2026, 1, 16, 17)
    assert add_business_time(berlin(2026, 1, 5, 9), 81 * H, OFFICE) == berlin(2026, 1, 19, 10)


def test_it_lands_a_year_of_business_weeks_later() -> None:
    # 52 weeks of 40 hours from Monday 2026-01-05 crosses both DST changes.
    result = add_business_time(berlin(2026, 1, 5, 9), 52 * 40 * H, OFFICE)

    assert result == berlin(2027, 1, 1, 17)


def test_it_keeps_office_hours_across_spring_forward_in_berlin() -> None:
    friday, monday = berlin(2026, 3, 27, 15), berlin(2026, 3, 30, 11)

    assert add_business_time(friday, 4 * H, OFFICE) == monday
    assert business_time_between(friday, monday, OFFICE) == 4 * H
    # The weekend was an hour short.
    assert real_time(friday, monday) == 67 * H


def test_it_keeps_office_hours_across_fall_back_in_berlin() -> None:
    friday, monday = berlin(2026, 10, 23, 15), berlin(2026, 10, 26, 11)

    assert add_business_time(friday, 4 * H, OFFICE) == monday
    assert business_time_between(friday, monday, OFFICE) == 4 * H
    assert real_time(friday, monday) == 69 * H


def test_it_keeps_office_hours_across_spring_forward_in_new_york() -> None:
    friday, monday = new_york(2026, 3, 6, 15), new_york(2026, 3, 9, 11)

    assert add_business_time(friday, 4 * H, NEW_YORK_OFFICE) == monday
    assert business_time_between(friday, monday, NEW_YORK_OFFICE) == 4 * H
    assert real_time(friday, monday) == 67 * H


def test_it_counts_the_real_length_of_a_night_shift_on_dst_days() -> None:
    spring_forward = business_time_between(
        berlin(2026, 3, 29), berlin(2026, 3, 29, 12), NIGHT_SHIFT
    )
    fall_back = business_time_between(berlin(2026, 10, 25), berlin(2026, 10, 25, 12), NIGHT_SHIFT)

    assert spring_forward == 5 * H
    assert fall_back == 7 * H


def test_it_adds_across_a_short_night_shift() -> None:
    # Saturday's 6 hours, then all 5 of Sunday's.
    result = add_business_time(berlin(2026, 3, 28), 11 * H, NIGHT_SHIFT)

    assert result == berlin(2026, 3, 29, 6)


def test_it_adds_across_a_long_night_shift() -> None:
    # On the fall-back night 02:30 comes twice; 3.5 hours after midnight is the second one.
    result = add_business_time(berlin(2026, 10, 25), 3.5 * H, NIGHT_SHIFT)

    # Compared in UTC: Python never finds a time in a fold equal to one in another zone.
    assert result.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert (result.hour, result.minute, result.fold) == (2, 30, 1)


def test_it_counts_only_the_hours_that_exist_when_a_window_starts_in_the_gap() -> None:
    # Clocks jump from 02:00 to 03:00, so only 03:00-03:30 of a 02:30-03:30 window happens.
    calendar = Calendar(
        time_zone="Europe/Berlin",
        working_days=frozenset(range(7)),
        start=time(2, 30),
        end=time(3, 30),
    )

    assert business_time_between(berlin(2026, 3, 29), berlin(2026, 3, 30), calendar) == H / 2
    assert add_business_time(berlin(2026, 3, 29), H / 4, calendar) == berlin(2026, 3, 29, 3, 15)


def test_it_skips_a_window_that_lies_wholly_in_the_gap() -> None:
    calendar = Calendar(
        time_zone="Europe/Berlin",
        working_days=frozenset(range(7)),
        start=time(2),
        end=time(2, 30),
    )

    # Saturday's half hour, nothing on Sunday, then 15 minutes on Monday.
    result = add_business_time(berlin(2026, 3, 28), timedelta(minutes=45), calendar)

    assert result == berlin(2026, 3, 30, 2, 15)


def test_it_counts_between_across_a_weekend() -> None:
    friday, monday = berlin(2026, 1, 9, 16), berlin(2026, 1, 12, 12)

    assert business_time_between(friday, monday, OFFICE) == 4 * H


def test_it_counts_between_backwards_as_negative() -> None:
    friday, monday = berlin(2026, 1, 9, 16), berlin(2026, 1, 12, 12)

    assert business_time_between(monday, friday, OFFICE) == -4 * H


def test_it_counts_nothing_from_saturday_to_sunday() -> None:
    saturday, sunday = berlin(2026, 1, 10, 10), berlin(2026, 1, 11, 16)

    assert business_time_between(saturday, sunday, OFFICE) == timedelta(0)
    assert business_time_between(sunday, saturday, OFFICE) == timedelta(0)


def test_it_counts_nothing_between_an_instant_and_itself() -> None:
    moment = berlin(2026, 1, 12, 10)

    assert business_time_between(moment, moment, OFFICE) == timedelta(0)


def test_it_counts_a_half_open_interval() -> None:
    # [09:00, 17:00) is the whole day; closing time itself adds nothing.
    assert business_time_between(berlin(2026, 1, 12, 9), berlin(2026, 1, 12, 17), OFFICE) == 8 * H


def test_it_refuses_naive_datetimes() -> None:
    naive = datetime(2026, 1, 12, 10)

    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(naive, H, OFFICE)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_time_between(naive, berlin(2026, 1, 12, 12), OFFICE)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_time_between(berlin(2026, 1, 12, 12), naive, OFFICE)


def test_it_refuses_a_negative_duration() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(berlin(2026, 1, 12, 10), -H, OFFICE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_zone": "Europe/Atlantis"}, "not a known IANA time zone"),
        ({"time_zone": "../etc/passwd"}, "not a known IANA time zone"),
        ({"time_zone": "UTC", "working_days": frozenset({0, 7})}, "between 0"),
        ({"time_zone": "UTC", "working_days": frozenset({-1})}, "between 0"),
        ({"time_zone": "UTC", "working_days": frozenset()}, "at least one working day"),
        ({"time_zone": "UTC", "start": time(17), "end": time(9)}, "start before they end"),
        ({"time_zone": "UTC", "start": time(9), "end": time(9)}, "start before they end"),
        ({"time_zone": "UTC", "start": time(9, tzinfo=UTC)}, "take no time zone"),
    ],
)
def test_it_refuses_an_invalid_calendar(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calendar(**kwargs)


CALENDARS = [OFFICE, OFFICE_WITH_HOLIDAYS, NEW_YORK_OFFICE, NIGHT_SHIFT]

starts_in_2026 = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2026, 12, 31, 23, 59),
    timezones=st.sampled_from([UTC, BERLIN, NEW_YORK]),
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
property_settings = settings(max_examples=200, deadline=None)


@property_settings
@given(start=starts_in_2026, duration=durations, calendar=st.sampled_from(CALENDARS))
def test_it_measures_back_what_it_added(
    start: datetime, duration: timedelta, calendar: Calendar
) -> None:
    end = add_business_time(start, duration, calendar)

    assert end >= start
    assert business_time_between(start, end, calendar) == duration
    assert business_time_between(end, start, calendar) == -duration


@property_settings
@given(
    start=starts_in_2026,
    durations=st.lists(durations, min_size=2, max_size=2),
    calendar=st.sampled_from(CALENDARS),
)
def test_it_never_goes_back_in_time_for_a_longer_duration(
    start: datetime, durations: list[timedelta], calendar: Calendar
) -> None:
    shorter, longer = sorted(durations)

    assert add_business_time(start, shorter, calendar) <= add_business_time(start, longer, calendar)
