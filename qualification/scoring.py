"""Lead facts + engagement events + scoring rules -> a score a sales rep can read line by line.

Pure: no Django, no ORM, no clock. The models layer converts ScoringRule rows and
EngagementEvent rows into the dataclasses below and passes the current time in.

Rounding: every engagement line is its rule's decayed (and capped) contribution rounded half
away from zero (2.5 -> 3, -2.5 -> -3), and the engagement total is the sum of those rounded
lines, so the explanation a rep reads always adds up to the score the guard compares.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fnmatch import fnmatchcase
from numbers import Real
from typing import Any


class Operator(StrEnum):
    EQUALS = "equals"
    IN = "in"
    RANGE = "range"
    IS_SET = "is_set"


FIT = "fit"
ENGAGEMENT = "engagement"


@dataclass(frozen=True)
class FitRule:
    """A lead fact compared with `value`; a missing fact never matches.

    Invalid configurations raise ValueError on construction, so a rule that could never
    match fails where it is edited rather than silently scoring nothing.
    """

    label: str
    field: str
    operator: str
    value: Any
    points: int
    must_have: bool = False
    # `value` as compared (normalised once, not for every lead): see matches()
    compared: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.operator not in set(Operator):
            raise ValueError(f"{self.label}: unknown operator {self.operator!r}")
        if self.operator == Operator.IN:
            if isinstance(self.value, str) or not isinstance(
                self.value, list | tuple | set | frozenset
            ):
                raise ValueError(f"{self.label}: 'in' needs a list of values")
            # frozen should mean immutable and hashable, which a list is not
            object.__setattr__(self, "value", tuple(self.value))
            object.__setattr__(self, "compared", tuple(_normalise(item) for item in self.value))
        elif self.operator == Operator.EQUALS:
            object.__setattr__(self, "compared", _normalise(self.value))
        elif self.operator == Operator.RANGE:
            if not isinstance(self.value, list | tuple) or len(self.value) != 2:
                raise ValueError(f"{self.label}: 'range' needs [min, max]")
            low, high = self.value
            if not all(end is None or _is_number(end) for end in (low, high)):
                raise ValueError(f"{self.label}: range ends must be numbers or None")
            if low is not None and high is not None and low > high:
                raise ValueError(f"{self.label}: range minimum is above its maximum")
            object.__setattr__(self, "value", (low, high))


@dataclass(frozen=True)
class EngagementRule:
    """Matches events of `event_kind`; `max_points` caps the absolute decayed total."""

    label: str
    event_kind: str
    points: int
    content_tag: str = ""
    url_pattern: str = ""
    max_points: int | None = None

    def __post_init__(self) -> None:
        if self.max_points is not None and self.max_points < 0:
            raise ValueError(f"{self.label}: max_points caps an absolute value, it cannot be < 0")


@dataclass(frozen=True)
class Event:
    kind: str
    occurred_at: datetime
    url: str = ""
    content_tag: str = ""


@dataclass(frozen=True)
class ScoreLine:
    label: str
    points: int
    kind: str


@dataclass(frozen=True)
class Score:
    """fit == sum of fit lines and engagement == sum of engagement lines, exactly."""

    fit: int
    engagement: int
    lines: tuple[ScoreLine, ...]


def _is_number(value: Any) -> bool:
    # bool is an int subclass; a yes/no fact (free_mail) is not a quantity
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_set(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | set | frozenset | dict):
        return bool(value)
    # 0 and False are real answers (no employees yet, not a free mail address)
    return True


def _normalise(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


def matches(rule: FitRule, lead_facts: Mapping[str, Any]) -> bool:
    fact = lead_facts.get(rule.field)
    if not _is_set(fact):
        return False
    if rule.operator == Operator.IS_SET:
        return True
    if rule.operator == Operator.EQUALS:
        return _normalise(fact) == rule.compared
    if rule.operator == Operator.IN:
        fact = _normalise(fact)
        return any(fact == item for item in rule.compared)
    # Operator.RANGE, the only one left after FitRule's validation
    if not _is_number(fact):
        return False
    low, high = rule.value
    return (low is None or fact >= low) and (high is None or fact <= high)


def _event_matches(rule: EngagementRule, event: Event) -> bool:
    # kinds are codes (EngagementEvent.Kind), not free text, so they compare exactly
    if event.kind != rule.event_kind:
        return False
    if rule.content_tag and _normalise(event.content_tag) != _normalise(rule.content_tag):
        return False
    # fnmatchcase + casefold: case-insensitive on every OS (fnmatch defers to os.path.normcase)
    return not rule.url_pattern or fnmatchcase(event.url.casefold(), rule.url_pattern.casefold())


def _round_half_away_from_zero(value: float) -> int:
    # 2.5 rounds to 3 and 0.49999999999999994 to 0: the built-in round() rounds half to
    # even, and floor(x + 0.5) misrounds values just below a half (the addition rounds).
    # x - floor(x) is exact for a float, so comparing it with 0.5 decides exactly, as
    # Decimal(x).quantize(Decimal(1), ROUND_HALF_UP) does (tested equal), in a tenth of
    # the time; beyond 2**52 a float has no fraction left to round.
    magnitude = abs(value)
    if not magnitude < 2**52:
        return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    whole = math.floor(magnitude)
    rounded = whole + 1 if magnitude - whole >= 0.5 else whole
    return -rounded if value < 0 else rounded


_DAY = timedelta(days=1)


def _engagement(
    rule: EngagementRule, events: Sequence[Event], now: datetime, half_life_days: float
) -> float:
    total = 0.0
    for event in events:
        if _event_matches(rule, event):
            # an event stamped in the future (clock skew at the source) counts as fresh
            age_days = max((now - event.occurred_at) / _DAY, 0.0)
            total += rule.points * 0.5 ** (age_days / half_life_days)
    if rule.max_points is not None and abs(total) > rule.max_points:
        total = math.copysign(rule.max_points, total)
    return total


def score(
    lead_facts: Mapping[str, Any],
    events: Iterable[Event],
    rules: Sequence[FitRule | EngagementRule],
    now: datetime,
    half_life_days: float,
) -> Score:
    """Lines follow the order of `rules`; rules that round to zero get no line."""
    # `not > 0` also refuses NaN
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, not {half_life_days!r}")
    # each engagement rule walks the events of its kind, in their order
    by_kind: dict[str, list[Event]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)
    lines: list[ScoreLine] = []
    for rule in rules:
        if isinstance(rule, FitRule):
            points = rule.points if matches(rule, lead_facts) else 0
            kind = FIT
        elif isinstance(rule, EngagementRule):
            of_kind = by_kind.get(rule.event_kind)
            if not of_kind:
                continue  # no event of its kind: no points, no line
            points = _round_half_away_from_zero(_engagement(rule, of_kind, now, half_life_days))
            kind = ENGAGEMENT
        else:
            raise TypeError(f"not a scoring rule: {rule!r}")
        if points:
            lines.append(ScoreLine(label=rule.label, points=points, kind=kind))
    return Score(
        fit=sum(line.points for line in lines if line.kind == FIT),
        engagement=sum(line.points for line in lines if line.kind == ENGAGEMENT),
        lines=tuple(lines),
    )


def must_haves_pass(
    lead_facts: Mapping[str, Any], rules: Iterable[FitRule | EngagementRule]
) -> tuple[bool, list[str]]:
    """Returns (all met, labels of the must-have fit rules not met, in rule order)."""
    failing = [
        rule.label
        for rule in rules
        if isinstance(rule, FitRule) and rule.must_have and not matches(rule, lead_facts)
    ]
    return not failing, failing


def explain(score: Score) -> list[str]:
    # the sign is always shown so a rep can tell a penalty from a bonus at a glance
    return [f"{line.label}: {line.points:+d}" for line in score.lines]
