"""The arithmetic of the reports, checked against numbers worked out by hand."""

import pytest

from reporting import stats
from reporting.stats import ScoreRow


def test_it_divides_only_when_there_is_something_to_divide_by():
    assert stats.rate(1, 4) == 0.25
    assert stats.rate(0, 0) is None
    assert stats.rate(3, None) is None
    assert stats.rate(None, 5) is None


def test_it_computes_the_wilson_interval():
    # 10 of 30, z = 1.96, z² = 3.8416:
    #   p = 0.33333; d = 1 + z²/n = 1.12805
    #   centre = (p + z²/2n) / d = (0.33333 + 0.06403) / 1.12805 = 0.35225
    #   half = z·sqrt(p(1-p)/n + z²/4n²) / d = 1.96·sqrt(0.0074074 + 0.0010671) / 1.12805
    #        = 1.96 · 0.092057 / 1.12805 = 0.15995
    #   -> 0.19230 .. 0.51220
    interval = stats.wilson(10, 30)

    assert interval.low == pytest.approx(0.1923, abs=5e-5)
    assert interval.high == pytest.approx(0.5122, abs=5e-5)


def test_it_keeps_the_wilson_interval_inside_zero_and_one():
    # 0 of 5: centre = (0 + 3.8416/10) / 1.76832 = 0.21725 = half -> 0 .. 0.4345
    assert stats.wilson(0, 5).low == 0.0
    assert stats.wilson(0, 5).high == pytest.approx(0.4345, abs=5e-5)
    # 5 of 5 mirrors it: 0.5655 .. 1
    assert stats.wilson(5, 5).low == pytest.approx(0.5655, abs=5e-5)
    assert stats.wilson(5, 5).high == 1.0


def test_it_has_no_interval_without_a_sample():
    assert stats.wilson(0, 0) is None


def test_it_interpolates_percentiles_like_percentile_cont():
    # positions q·(n-1): median of 4 values sits half-way between the 2nd and 3rd;
    # 0.9 · 3 = 2.7: 3 + 0.7 · (4 - 3) = 3.7
    assert stats.percentiles([4, 1, 3, 2], (0.5, 0.9)) == (2.5, pytest.approx(3.7))
    # 0.9 · 2 = 1.8: 12 + 0.8 · (30 - 12) = 26.4
    assert stats.percentiles([6, 12, 30], (0.9,)) == (pytest.approx(26.4),)
    assert stats.percentiles([7], (0.5, 0.9)) == (7, 7)
    assert stats.percentiles([], (0.5, 0.9)) == (None, None)


def test_it_bins_scores_into_deciles_keeping_ties_together():
    # 20 MQLs, 4 per score: decile = floor(10 · MQLs scoring lower / 20) + 1
    rows = [ScoreRow(score, 4, accepted, sql) for score, accepted, sql in FIVE_SCORES]

    bins = stats.decile_bins(rows)

    assert [(b.decile, b.label, b.mqls, b.accepted, b.sql) for b in bins] == [
        (1, "10", 4, 1, 0),
        (3, "20", 4, 2, 0),
        (5, "30", 4, 2, 0),
        (7, "40", 4, 3, 1),
        (9, "50", 4, 4, 2),
    ]
    assert [b.sql_rate for b in bins] == [0, 0, 0, 0.25, 0.5]


def test_it_merges_the_scores_of_a_decile_into_one_range():
    rows = [ScoreRow(s, 1, 0, 0) for s in range(1, 21)]  # 20 scores, one MQL each

    bins = stats.decile_bins(rows)

    assert [(b.decile, b.label) for b in bins] == [
        (d + 1, f"{2 * d + 1}\u2013{2 * d + 2}") for d in range(10)
    ]


def test_it_says_whether_a_rate_rises_with_the_score():
    assert stats.rises([0, 0, 0.25, 0.5]) is True
    assert stats.rises([0.5, None, 0.25]) is False
    assert stats.rises([0.5]) is None


FIVE_SCORES = [(10, 1, 0), (20, 2, 0), (30, 2, 0), (40, 3, 1), (50, 4, 2)]


def test_it_measures_every_threshold():
    rows = [ScoreRow(score, 4, accepted, sql) for score, accepted, sql in FIVE_SCORES]

    options = stats.thresholds(rows)

    # at least 10: 3 SQL of 20; 20: 3 of 16; 30: 3 of 12; 40: 3 of 8; 50: 2 of 4
    assert [(t.score, t.mqls, t.sql) for t in options] == [
        (10, 20, 3),
        (20, 16, 3),
        (30, 12, 3),
        (40, 8, 3),
        (50, 4, 2),
    ]
    assert [t.sql_rate for t in options] == [0.15, 0.1875, 0.25, 0.375, 0.5]


def test_it_suggests_the_lowest_threshold_inside_the_band():
    rows = [ScoreRow(score, 4, accepted, sql) for score, accepted, sql in FIVE_SCORES]

    found = stats.threshold_in_band(rows, 0.20, 0.25, min_mqls=10)

    assert (found.score, found.mqls, found.sql, found.sql_rate) == (30, 12, 3, 0.25)


def test_it_suggests_no_threshold_that_keeps_too_few_mqls():
    rows = [ScoreRow(score, 4, accepted, sql) for score, accepted, sql in FIVE_SCORES]

    assert stats.threshold_in_band(rows, 0.20, 0.25, min_mqls=13) is None
    assert stats.threshold_in_band(rows, 0.60, 0.70, min_mqls=1) is None
