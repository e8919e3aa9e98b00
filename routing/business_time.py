"""Business-time arithmetic for SLA clocks.

Working hours are wall-clock times in the calendar's zone; all arithmetic is done on
absolute instants (UTC), so a window's length is the real time that passes inside it,
including on daylight-saving days.
"""

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONDAY_TO_FRIDAY = frozenset(range(5))
_ONE_DAY = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Calendar:
    time_zone: str
    working_days: frozenset[int] = MONDAY_TO_FRIDAY
    start: time = time(9)
    end: time = time(17)
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{self.time_zone!r} is not a known IANA time zone.") from None
        # Without a working day add_business_time could never finish.
        if not self.working_days:
            raise ValueError("A calendar needs at least one working day.")
        if not all(day in range(7) for day in self.working_days):
            raise ValueError(
                f"Working days must be between 0 (Monday) and 6 (Sunday), "
                f"got {sorted(self.working_days)}."
            )
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("Working hours are local wall-clock times and take no time zone.")
        if not self.start < self.end:
            raise ValueError(
                f"Working hours must start before they end, got {self.start} to {self.end}."
            )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def add_business_time(start: datetime, duration: timedelta, calendar: Calendar) -> datetime:
    """Return the earliest instant at which `duration` of business time has passed since start.

    The result is in the calendar's zone. business_time_between(start, result) == duration,
    and a zero duration returns the same instant as start, even outside working hours.
    """
    _require_aware(start)
    if duration < timedelta(0):
        raise ValueError(f"Business time to add must not be negative, got {duration}.")
    zone = calendar.zone
    if duration == timedelta(0):
        return start.astimezone(zone)
    instant = start.astimezone(UTC)
    remaining = duration
    for opens, closes in _windows_from(instant.astimezone(zone).date(), calendar):
        if closes <= instant:
            continue
        instant = max(opens, instant)
        available = closes - instant
        # `<=` rather than `<`: a duration that fills the window ends at closing time,
        # not at the next opening.
        if remaining <= available:
            instant += remaining
            break
        remaining -= available
        instant = closes
    return instant.astimezone(zone)


def business_time_between(a: datetime, b: datetime, calendar: Calendar) -> timedelta:
    """Business time in [a, b); negative (minus the business time in [b, a)) when b < a."""
    _require_aware(a)
    _require_aware(b)
    if b < a:
        return -business_time_between(b, a, calendar)
    zone = calendar.zone
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    total = timedelta(0)
    for opens, closes in _windows_from(a.astimezone(zone).date(), calendar):
        if opens >= b:
            break
        total += max(timedelta(0), min(closes, b) - max(opens, a))
    return total


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"Datetimes must be timezone-aware, got naive {moment.isoformat()}.")


def _windows_from(first_day: date, calendar: Calendar) -> Iterator[tuple[datetime, datetime]]:
    """Yield each working day's (opens, closes) in UTC, in order, from first_day on, forever.

    A window maps the local wall-clock hours of one date, so windows never overlap and an
    instant can only fall in the window of its own local date.
    """
    day = first_day
    while True:
        if day.weekday() in calendar.working_days and day not in calendar.holidays:
            opens = _instant(day, calendar.start, calendar.zone)
            closes = _instant(day, calendar.end, calendar.zone)
            # A window lying wholly inside a DST gap never happens on the clock.
            if opens < closes:
                yield opens, closes
        day += _ONE_DAY


# A sweep stops and starts a thousand clocks on the same few days of one calendar: each
# day's opening and closing instants are worked out once per process (the 4,096 kept are
# about eight years of one calendar's working days).
@functools.lru_cache(maxsize=4096)
def _instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the zone's clocks show `wall` on `day`.

    Ambiguous times (the clocks go back) take the first occurrence (fold=0). Times that
    do not exist (the clocks jump forward) take the instant of the jump, the first moment
    the clocks show a later time, so a window keeps exactly the real time its hours span.
    """
    local = datetime.combine(day, wall.replace(fold=0), tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # In a gap, fold=0 reads the wall time with the offset before the jump (landing after
    # it) and fold=1 with the offset after (landing before it); bisect to the jump.
    before = local.replace(fold=1).astimezone(UTC)
    after = instant
    while after - before > _ONE_MICROSECOND:
        middle = before + (after - before) / 2
        if middle.astimezone(zone).utcoffset() == after.astimezone(zone).utcoffset():
            after = middle
        else:
            before = middle
    return after


class Timeline:
    """A calendar's working windows between two dates, laid out once, for code that asks
    many questions of one calendar (bulk loads, reports). `add` and `between` answer by
    binary search and agree exactly with add_business_time and business_time_between for
    instants inside the range; outside it they raise ValueError."""

    def __init__(self, calendar: Calendar, first_day: date, last_day: date) -> None:
        self.calendar = calendar
        self.first_day, self.last_day = first_day, last_day
        self.opens: list[datetime] = []
        self.closes: list[datetime] = []
        self.ends: list[timedelta] = []  # business time from the first window to each close
        total = timedelta(0)
        for opens, closes in _windows_from(first_day, calendar):
            if opens.astimezone(calendar.zone).date() > last_day:
                break
            total += closes - opens
            self.opens.append(opens)
            self.closes.append(closes)
            self.ends.append(total)
        if not self.opens:
            raise ValueError(f"No working time between {first_day} and {last_day}.")

    def _check(self, moment: datetime) -> None:
        _require_aware(moment)
        local_day = moment.astimezone(self.calendar.zone).date()
        if not self.first_day <= local_day <= self.last_day:
            raise ValueError(
                f"{moment.isoformat()} is outside this timeline "
                f"({self.first_day} to {self.last_day})."
            )

    def position(self, moment: datetime) -> timedelta:
        """Business time from the start of the timeline to `moment`."""
        self._check(moment)
        i = bisect_right(self.opens, moment) - 1
        if i < 0:
            return timedelta(0)
        before = self.ends[i] - (self.closes[i] - self.opens[i])
        return before + (min(moment, self.closes[i]) - self.opens[i])

    def add(self, start: datetime, duration: timedelta) -> datetime:
        if duration < timedelta(0):
            raise ValueError(f"Business time to add must not be negative, got {duration}.")
        if not duration:
            self._check(start)
            return start.astimezone(self.calendar.zone)
        target = self.position(start) + duration
        i = bisect_left(self.ends, target)  # the earliest window that reaches the target
        if i == len(self.ends):
            raise ValueError("The result lies beyond this timeline; lay out more days.")
        before = self.ends[i] - (self.closes[i] - self.opens[i])
        return (self.opens[i] + (target - before)).astimezone(self.calendar.zone)

    def between(self, a: datetime, b: datetime) -> timedelta:
        return self.position(b) - self.position(a)
