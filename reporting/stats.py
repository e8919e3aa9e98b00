"""The arithmetic of the reports, on plain values: rates, Wilson intervals, percentiles,
score bins and the threshold search. No ORM and no clock, so every number a report shows
can be checked by hand (tests/reporting/test_stats.py does)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# The normal quantile of a two-sided 95% interval, rounded as the textbooks (and our
# hand-computed test values) round it.
Z95 = 1.96
DASH = "\u2013"  # en dash, for ranges in labels


def rate(part: int | float | None, whole: int | float | None) -> float | None:
    """part / whole, or None ("no data") when there is nothing to divide by."""
    if part is None or not whole:
        return None
    return part / whole


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def wilson(successes: int, n: int, z: float = Z95) -> Interval | None:
    """The Wilson score interval of a binomial proportion: unlike p ± z·se it stays inside
    [0, 1] and is honest for small samples and rates near 0% or 100%."""
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def percentiles(
    values: Sequence[float] | np.ndarray, qs: Sequence[float]
) -> tuple[float | None, ...]:
    """PostgreSQL's percentile_cont at each fraction in `qs`: linear interpolation
    between the closest ranks (numpy's default method), None for no values."""
    if not len(values):
        return (None,) * len(qs)
    return tuple(float(v) for v in np.percentile(values, [100 * q for q in qs]))


# --- score bins --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRow:
    """MQLs with one exact score, and how many of them sales accepted and qualified."""

    score: int
    mqls: int
    accepted: int
    sql: int


@dataclass(frozen=True)
class ScoreBin:
    decile: int  # 1..10
    low: int
    high: int
    mqls: int
    accepted: int
    sql: int

    @property
    def label(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}{DASH}{self.high}"

    @property
    def accept_rate(self) -> float | None:
        return rate(self.accepted, self.mqls)

    @property
    def sql_rate(self) -> float | None:
        return rate(self.sql, self.mqls)


def decile_bins(rows: Iterable[ScoreRow]) -> list[ScoreBin]:
    """Group MQLs into deciles of their score: a score's decile is
    floor(10 * share of MQLs scoring strictly lower) + 1, so tied scores share a bin
    (a threshold is a score, and cannot split a tie) and a bin may hold more or less
    than a tenth; deciles nobody falls into are left out."""
    ordered = sorted((r for r in rows if r.mqls), key=lambda r: r.score)
    total = sum(r.mqls for r in ordered)
    bins: dict[int, list[ScoreRow]] = {}
    below = 0
    for row in ordered:
        decile = min(9, (10 * below) // total) + 1
        bins.setdefault(decile, []).append(row)
        below += row.mqls
    return [
        ScoreBin(
            decile=decile,
            low=members[0].score,
            high=members[-1].score,
            mqls=sum(r.mqls for r in members),
            accepted=sum(r.accepted for r in members),
            sql=sum(r.sql for r in members),
        )
        for decile, members in sorted(bins.items())
    ]


def rises(rates: Sequence[float | None]) -> bool | None:
    """Whether the rate never falls from one bin to the next (None: under two bins)."""
    known = [r for r in rates if r is not None]
    if len(known) < 2:
        return None
    return all(b >= a for a, b in itertools.pairwise(known))


@dataclass(frozen=True)
class Threshold:
    score: int
    mqls: int  # MQLs that would still have been MQLs
    sql: int
    total_mqls: int
    total_sql: int

    @property
    def sql_rate(self) -> float | None:
        return rate(self.sql, self.mqls)


def thresholds(rows: Iterable[ScoreRow]) -> list[Threshold]:
    """For each score seen, what MQL -> SQL would have been had only MQLs scoring at
    least that much been passed to sales."""
    ordered = sorted((r for r in rows if r.mqls), key=lambda r: r.score)
    total_mqls = sum(r.mqls for r in ordered)
    total_sql = sum(r.sql for r in ordered)
    kept_mqls, kept_sql = total_mqls, total_sql
    result = []
    for row in ordered:
        result.append(Threshold(row.score, kept_mqls, kept_sql, total_mqls, total_sql))
        kept_mqls -= row.mqls
        kept_sql -= row.sql
    return result


def threshold_in_band(
    rows: Iterable[ScoreRow], low: float, high: float, *, min_mqls: int
) -> Threshold | None:
    """The lowest threshold (so the most MQLs kept) whose MQL -> SQL lies in [low, high]
    with at least `min_mqls` MQLs left to measure it on; None when no score does."""
    for candidate in thresholds(rows):
        value = candidate.sql_rate
        if candidate.mqls >= min_mqls and value is not None and low <= value <= high:
            return candidate
    return None
