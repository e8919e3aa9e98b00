import math
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qualification.scoring import (
    ENGAGEMENT,
    FIT,
    EngagementRule,
    Event,
    FitRule,
    Operator,
    Score,
    ScoreLine,
    _round_half_away_from_zero,
    explain,
    matches,
    must_haves_pass,
    score,
)

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
HALF_LIFE = 7.0

TARGET_VERTICAL = FitRule(
    "Industry is a target vertical", "industry", "equals", "Manufacturing", 20
)
SERVED_REGION = FitRule(
    "Country is in a served region", "country", "in", ["DE", "AT", "CH"], 10, must_have=True
)
MID_MARKET = FitRule("Company has 50-500 employees", "employee_count", "range", [50, 500], 15)
FREE_MAIL = FitRule("Uses a free mail address", "free_mail", "equals", True, -15)
HAS_ROLE = FitRule("Role is known", "role_category", "is_set", None, 5, must_have=True)

UNSUBSCRIBED = EngagementRule("Unsubscribed", "unsubscribe", -10)
WEBINAR = EngagementRule("Attended a webinar", "webinar", 10)
PRICING = EngagementRule("Viewed pricing", "page_view", 5, url_pattern="*/pricing*")
CAREERS = EngagementRule("Visited the careers page", "page_view", -4, url_pattern="*/careers*")


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def engagement_of(rules, events) -> int:
    return score({}, events, rules, NOW, HALF_LIFE).engagement


# --- matches: one operator at a time ---------------------------------------------------


def test_it_matches_equals_ignoring_case_and_surrounding_spaces():
    assert matches(TARGET_VERTICAL, {"industry": "  manufacturing "})
    assert matches(TARGET_VERTICAL, {"industry": "MANUFACTURING"})


def test_it_does_not_match_equals_on_another_value():
    assert not matches(TARGET_VERTICAL, {"industry": "Retail"})
    assert not matches(TARGET_VERTICAL, {"industry": "Manufacturing and more"})


def test_it_compares_non_string_equals_exactly():
    assert matches(FREE_MAIL, {"free_mail": True})
    assert not matches(FREE_MAIL, {"free_mail": False})
    fifty = FitRule("Exactly 50 employees", "employee_count", "equals", 50, 1)
    assert matches(fifty, {"employee_count": 50})
    assert not matches(fifty, {"employee_count": "50"})


def test_it_matches_in_ignoring_case():
    assert matches(SERVED_REGION, {"country": "de"})
    assert matches(SERVED_REGION, {"country": " Ch "})


def test_it_does_not_match_in_outside_the_list():
    assert not matches(SERVED_REGION, {"country": "FR"})
    assert not matches(SERVED_REGION, {"country": "D"})


def test_it_matches_range_with_both_ends_inclusive():
    assert matches(MID_MARKET, {"employee_count": 50})
    assert matches(MID_MARKET, {"employee_count": 500})
    assert matches(MID_MARKET, {"employee_count": 120.5})
    assert not matches(MID_MARKET, {"employee_count": 49})
    assert not matches(MID_MARKET, {"employee_count": 501})


def test_it_matches_range_with_open_ends():
    small = FitRule("Small company", "employee_count", "range", [None, 50], 5)
    large = FitRule("Enterprise", "employee_count", "range", [1000, None], 5)
    anything = FitRule("Any headcount", "employee_count", "range", [None, None], 5)
    assert matches(small, {"employee_count": 0})
    assert not matches(small, {"employee_count": 51})
    assert matches(large, {"employee_count": 1_000_000})
    assert not matches(large, {"employee_count": 999})
    assert matches(anything, {"employee_count": -3})


@pytest.mark.parametrize("fact", ["120", "many", True, [120], math.nan])
def test_it_does_not_match_range_on_non_numeric_facts(fact):
    assert not matches(MID_MARKET, {"employee_count": fact})


@pytest.mark.parametrize("fact", ["Engineering", 0, False, ["buyer"]])
def test_it_matches_is_set_for_a_present_fact(fact):
    assert matches(HAS_ROLE, {"role_category": fact})


@pytest.mark.parametrize(
    "facts",
    [
        {},
        {"role_category": None},
        {"role_category": ""},
        {"role_category": "   "},
        {"role_category": []},
    ],
)
def test_it_does_not_match_is_set_for_a_missing_or_empty_fact(facts):
    assert not matches(HAS_ROLE, facts)


@pytest.mark.parametrize("rule", [TARGET_VERTICAL, SERVED_REGION, MID_MARKET, FREE_MAIL])
@pytest.mark.parametrize(
    "facts", [{}, {"industry": None, "country": None, "employee_count": None, "free_mail": None}]
)
def test_it_never_matches_a_missing_fact(rule, facts):
    assert not matches(rule, facts)


def test_it_never_matches_a_missing_fact_even_against_an_empty_value():
    assert not matches(FitRule("No industry", "industry", "equals", None, 1), {})
    assert not matches(FitRule("Blank industry", "industry", "equals", "", 1), {"industry": ""})


def test_it_accepts_operators_from_the_enum():
    rule = FitRule("Industry is a target vertical", "industry", Operator.EQUALS, "retail", 20)
    assert matches(rule, {"industry": "Retail"})


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("contains", "x"),
        ("in", "DE"),
        ("in", None),
        ("range", [1]),
        ("range", [1, 2, 3]),
        ("range", ["1", None]),
        ("range", [500, 50]),
    ],
)
def test_it_refuses_a_misconfigured_fit_rule(operator, value):
    with pytest.raises(ValueError, match="Broken rule"):
        FitRule("Broken rule", "employee_count", operator, value, 1)


def test_it_refuses_a_negative_max_points():
    with pytest.raises(ValueError, match="Broken rule"):
        EngagementRule("Broken rule", "webinar", 10, max_points=-1)


# --- score: fit ---------------------------------------------------------------------------


def test_it_sums_the_points_of_matching_fit_rules():
    facts = {"industry": "manufacturing", "country": "FR", "employee_count": 200}
    result = score(facts, [], [TARGET_VERTICAL, SERVED_REGION, MID_MARKET], NOW, HALF_LIFE)
    # industry +20, country FR not served, 200 employees +15: 20 + 15 = 35
    assert result.fit == 35
    assert result.engagement == 0
    assert result.lines == (
        ScoreLine("Industry is a target vertical", 20, FIT),
        ScoreLine("Company has 50-500 employees", 15, FIT),
    )


def test_it_counts_a_fit_rule_once_even_when_several_values_match():
    twice = FitRule("German-speaking", "country", "in", ["DE", "de", " De"], 10)
    assert score({"country": "DE"}, [], [twice], NOW, HALF_LIFE).fit == 10


def test_it_subtracts_negative_fit_points():
    facts = {"industry": "Manufacturing", "free_mail": True}
    result = score(facts, [], [TARGET_VERTICAL, FREE_MAIL], NOW, HALF_LIFE)
    # 20 - 15 = 5
    assert result.fit == 5
    assert result.lines[1] == ScoreLine("Uses a free mail address", -15, FIT)


# --- score: engagement and decay ----------------------------------------------------------


def test_it_counts_an_event_from_now_at_full_points():
    assert engagement_of([WEBINAR], [Event("webinar", NOW)]) == 10


def test_it_halves_points_after_one_half_life():
    # 10 * 0.5 ** (7 / 7) = 5
    assert engagement_of([WEBINAR], [Event("webinar", ago(7))]) == 5


def test_it_quarters_points_after_two_half_lives():
    rule = EngagementRule("Booked a demo", "meeting", 20)
    # 20 * 0.5 ** (14 / 7) = 5
    assert engagement_of([rule], [Event("meeting", ago(14))]) == 5


def test_it_decays_by_fractional_days():
    # 12 hours with a half-life of half a day: 16 * 0.5 ** (0.5 / 0.5) = 8
    rule = EngagementRule("Opened an email", "email_open", 16)
    result = score({}, [Event("email_open", ago(0.5))], [rule], NOW, half_life_days=0.5)
    assert result.engagement == 8


def test_it_rounds_halves_away_from_zero():
    # 10 * 0.5 ** 2 = 2.5 -> +3, and -10 * 0.5 ** 2 = -2.5 -> -3 (not banker's 2 and -2)
    assert engagement_of([WEBINAR], [Event("webinar", ago(14))]) == 3
    assert engagement_of([UNSUBSCRIBED], [Event("unsubscribe", ago(14))]) == -3


def _half_up_by_decimal(value: float) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _outcome(rounding, value: float):
    try:
        return rounding(value)
    except ArithmeticError as exc:  # beyond Decimal's 28 digits both refuse alike
        return type(exc)


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.5,
        -1.5,
        2.5,
        0.49999999999999994,
        -0.49999999999999994,
        4503599627370495.5,
        2.0**52,
        2.0**53 + 2,
        1e300,
        -1e300,
        5e-324,
        7.499999999999999,
    ],
)
def test_it_rounds_edge_values_exactly_as_decimal_half_up(value):
    assert _outcome(_round_half_away_from_zero, value) == _outcome(_half_up_by_decimal, value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_it_rounds_any_value_exactly_as_decimal_half_up(value):
    assert _outcome(_round_half_away_from_zero, value) == _outcome(_half_up_by_decimal, value)


@given(
    st.lists(st.one_of(st.text(max_size=4), st.integers(), st.booleans()), max_size=4),
    st.one_of(st.text(max_size=4), st.integers(), st.booleans(), st.none()),
)
def test_a_fit_rule_compares_its_values_normalised_as_written(values, fact):
    # "in" and "equals" keep their values normalised once; the answer is the one of
    # comparing the normalised fact with each normalised value
    def norm(value):
        return value.strip().casefold() if isinstance(value, str) else value

    facts = {"industry": fact}
    in_rule = FitRule("In", "industry", "in", values, 1)
    assert matches(in_rule, facts) == (
        _is_set_fact(fact) and any(norm(fact) == norm(v) for v in values)
    )
    if values:
        equals_rule = FitRule("Equals", "industry", "equals", values[0], 1)
        assert matches(equals_rule, facts) == (_is_set_fact(fact) and norm(fact) == norm(values[0]))


def _is_set_fact(fact) -> bool:
    return fact is not None and (not isinstance(fact, str) or bool(fact.strip()))


def test_it_counts_future_events_at_full_points():
    assert engagement_of([WEBINAR], [Event("webinar", NOW + timedelta(days=3))]) == 10


def test_it_applies_negative_engagement_points():
    result = score({}, [Event("unsubscribe", ago(0))], [UNSUBSCRIBED], NOW, HALF_LIFE)
    assert result.engagement == -10
    assert result.lines == (ScoreLine("Unsubscribed", -10, ENGAGEMENT),)


def test_it_caps_a_positive_rule_at_max_points():
    rule = EngagementRule("Viewed pages", "page_view", 5, max_points=8)
    # 3 views now: 3 * 5 = 15, capped at 8
    assert engagement_of([rule], [Event("page_view", NOW)] * 3) == 8


def test_it_caps_a_negative_rule_at_max_points():
    rule = EngagementRule("Job hunting", "page_view", -4, url_pattern="*/careers*", max_points=5)
    visit = Event("page_view", NOW, url="https://acme.example/careers")
    # 3 visits now: 3 * -4 = -12, capped at -5
    assert engagement_of([rule], [visit] * 3) == -5


def test_it_caps_the_decayed_total_not_the_raw_points():
    events = [Event("webinar", NOW), Event("webinar", ago(7))]
    # 10 + 10 * 0.5 = 15: raw 20 would hit a cap of 16, the decayed 15 does not
    assert engagement_of([EngagementRule("Webinars", "webinar", 10, max_points=16)], events) == 15
    assert engagement_of([EngagementRule("Webinars", "webinar", 10, max_points=12)], events) == 12


def test_it_matches_only_events_of_the_rule_kind():
    assert engagement_of([WEBINAR], [Event("page_view", NOW), Event("unsubscribe", NOW)]) == 0


def test_it_matches_content_tag_ignoring_case():
    rule = EngagementRule("Read the ROI guide", "download", 8, content_tag="roi-guide")
    assert engagement_of([rule], [Event("download", NOW, content_tag="ROI-Guide")]) == 8
    assert engagement_of([rule], [Event("download", NOW, content_tag="whitepaper")]) == 0
    assert engagement_of([rule], [Event("download", NOW)]) == 0


def test_it_matches_url_pattern_as_a_case_insensitive_glob():
    def views(url: str) -> int:
        return engagement_of([CAREERS], [Event("page_view", NOW, url=url)])

    assert views("https://acme.example/Careers/engineering") == -4
    assert views("https://acme.example/careers") == -4
    assert views("https://acme.example/pricing") == 0
    assert views("") == 0


def test_it_counts_one_event_for_every_rule_it_matches():
    any_page = EngagementRule("Visited the site", "page_view", 1)
    result = score(
        {},
        [Event("page_view", NOW, url="https://acme.example/pricing")],
        [any_page, PRICING],
        NOW,
        HALF_LIFE,
    )
    # 1 + 5 = 6
    assert result.engagement == 6
    assert [line.label for line in result.lines] == ["Visited the site", "Viewed pricing"]


def test_it_combines_multiple_events_and_rules():
    events = [
        Event("webinar", ago(0)),
        Event("webinar", ago(7)),
        Event("page_view", ago(14), url="https://acme.example/pricing"),
        Event("page_view", ago(7), url="https://acme.example/careers/sales"),
        Event("unsubscribe", ago(21)),
    ]
    result = score({}, events, [WEBINAR, PRICING, CAREERS, UNSUBSCRIBED], NOW, HALF_LIFE)
    # webinar: 10 + 10 * 0.5 = 15
    # pricing: 5 * 0.25 = 1.25 -> 1
    # careers: -4 * 0.5 = -2
    # unsubscribe: -10 * 0.5 ** 3 = -1.25 -> -1
    # total 15 + 1 - 2 - 1 = 13
    assert [line.points for line in result.lines] == [15, 1, -2, -1]
    assert result.engagement == 13


def test_it_accepts_events_as_a_generator():
    events = (Event("page_view", NOW, url=url) for url in ["/pricing", "/careers"])
    # both rules see both events: pricing +5, careers -4
    assert engagement_of([PRICING, CAREERS], events) == 1


def test_it_totals_engagement_as_the_sum_of_rounded_lines():
    first = EngagementRule("Webinar", "webinar", 10)
    second = EngagementRule("Webinar, again", "webinar", 10)
    # each rule: 10 * 0.25 = 2.5 -> 3; the total is 3 + 3 = 6, not round(5.0) = 5
    result = score({}, [Event("webinar", ago(14))], [first, second], NOW, HALF_LIFE)
    assert [line.points for line in result.lines] == [3, 3]
    assert result.engagement == 6


def test_it_drops_fractions_that_round_to_nothing_from_the_total():
    first = EngagementRule("Opened an email", "email_open", 1)
    second = EngagementRule("Opened an email, again", "email_open", 1)
    # each rule: 1 * 0.25 = 0.25 -> 0, so no lines and a total of 0, not round(0.5) = 1
    result = score({}, [Event("email_open", ago(14))], [first, second], NOW, HALF_LIFE)
    assert result == Score(fit=0, engagement=0, lines=())


# --- lines and explanation ----------------------------------------------------------------


def test_it_omits_rules_that_contribute_nothing():
    zero_fit = FitRule("Country noted", "country", "is_set", None, 0)
    stale = EngagementRule("Old download", "download", 10)
    facts = {"industry": "Retail", "country": "DE"}
    # industry not a target (0), zero-point fit rule (0), no webinar (0),
    # download 35 days ago: 10 * 0.5 ** 5 = 0.3125 -> 0
    result = score(
        facts,
        [Event("download", ago(35))],
        [TARGET_VERTICAL, zero_fit, WEBINAR, stale],
        NOW,
        HALF_LIFE,
    )
    assert result == Score(fit=0, engagement=0, lines=())


def test_it_lists_lines_in_the_given_rule_order():
    facts = {"industry": "Manufacturing", "country": "AT", "free_mail": True}
    events = [Event("webinar", ago(7)), Event("unsubscribe", NOW)]
    rules = [WEBINAR, TARGET_VERTICAL, UNSUBSCRIBED, MID_MARKET, FREE_MAIL, SERVED_REGION]
    result = score(facts, events, rules, NOW, HALF_LIFE)
    # fit: 20 - 15 + 10 = 15 (no headcount, so no mid-market line)
    # engagement: 10 * 0.5 = 5, unsubscribe -10 now: 5 - 10 = -5
    assert result.fit == 15
    assert result.engagement == -5
    assert result.lines == (
        ScoreLine("Attended a webinar", 5, ENGAGEMENT),
        ScoreLine("Industry is a target vertical", 20, FIT),
        ScoreLine("Unsubscribed", -10, ENGAGEMENT),
        ScoreLine("Uses a free mail address", -15, FIT),
        ScoreLine("Country is in a served region", 10, FIT),
    )


def test_it_explains_each_line_with_its_signed_points():
    result = Score(
        fit=20,
        engagement=-10,
        lines=(
            ScoreLine("Industry is a target vertical", 20, FIT),
            ScoreLine("Unsubscribed", -10, ENGAGEMENT),
        ),
    )
    assert explain(result) == ["Industry is a target vertical: +20", "Unsubscribed: -10"]


def test_it_explains_an_empty_score_with_no_lines():
    assert explain(Score(fit=0, engagement=0, lines=())) == []


# --- input checks -------------------------------------------------------------------------


@pytest.mark.parametrize("half_life_days", [0, -7, math.nan])
def test_it_refuses_a_half_life_that_is_not_positive(half_life_days):
    with pytest.raises(ValueError, match="half_life_days"):
        score({}, [], [WEBINAR], NOW, half_life_days)


def test_it_refuses_something_that_is_not_a_rule():
    with pytest.raises(TypeError):
        score({}, [], ["Industry is a target vertical"], NOW, HALF_LIFE)


# --- must-haves ---------------------------------------------------------------------------


def test_it_passes_must_haves_when_every_one_matches():
    facts = {"country": "ch", "role_category": "Engineering"}
    assert must_haves_pass(facts, [SERVED_REGION, TARGET_VERTICAL, HAS_ROLE]) == (True, [])


def test_it_names_the_must_haves_not_met_in_rule_order():
    facts = {"country": "FR", "industry": "Retail"}
    # TARGET_VERTICAL fails too but is not a must-have; engagement rules are ignored
    rules = [HAS_ROLE, TARGET_VERTICAL, WEBINAR, SERVED_REGION]
    assert must_haves_pass(facts, rules) == (
        False,
        ["Role is known", "Country is in a served region"],
    )


def test_it_passes_must_haves_when_there_are_none():
    assert must_haves_pass({}, [TARGET_VERTICAL, WEBINAR]) == (True, [])


# --- property -----------------------------------------------------------------------------

KINDS = ["webinar", "page_view", "download"]

positive_rules = st.lists(
    st.builds(
        EngagementRule,
        label=st.sampled_from(["a", "b", "c"]),
        event_kind=st.sampled_from(KINDS),
        points=st.integers(min_value=1, max_value=50),
        max_points=st.none() | st.integers(min_value=0, max_value=100),
    ),
    min_size=1,
    max_size=4,
)
recent_events = st.lists(
    st.builds(
        Event,
        kind=st.sampled_from(KINDS),
        # from 30 days in the future (clock skew) to 60 days ago
        occurred_at=st.integers(min_value=-30 * 24, max_value=60 * 24).map(
            lambda hours: NOW - timedelta(hours=hours)
        ),
    ),
    max_size=10,
)


# database=None: no .hypothesis/ folder in the checkout
@settings(max_examples=200, database=None)
@given(
    rules=positive_rules,
    events=recent_events,
    later_by_hours=st.integers(min_value=0, max_value=90 * 24),
    half_life_days=st.floats(min_value=0.1, max_value=90),
)
def test_it_never_gains_engagement_as_time_passes(rules, events, later_by_hours, half_life_days):
    earlier = score({}, events, rules, NOW, half_life_days).engagement
    later = score({}, events, rules, NOW + timedelta(hours=later_by_hours), half_life_days)
    assert later.engagement <= earlier
