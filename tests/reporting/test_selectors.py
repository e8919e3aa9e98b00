"""Every report over a known history, every number asserted (PostgreSQL).

The March 2026 cohort (fixture `march`), times in hours after Monday 2 March 09:00 UTC:

    lead  source        owner  path (hours)                                        open
    L1    inbound form  Rita   engaged 0, MQL 24, accepted 30, SQL 126, opp 366
    L2    inbound form  Rita   engaged 0, MQL 24, accepted 36, SQL 228
    L3    inbound form  Otto   engaged 0, MQL 24, accepted 54                      yes
    L4    inbound form  Otto   engaged 0, MQL 24, rejected 26 (misrouted), nurture 50
    L5    webinar       Otto   engaged 0, MQL 48, rejected 50 (Other, no note)
    L6    webinar       Rita   engaged 0, MQL 72                                   yes
    L7    webinar       -      engaged 0 (never an MQL)
    L8    inbound form  Rita   MQL on 1 February (another cohort)
"""

import datetime as dt

import pytest

from leads.models import Lead
from leads.stages import Stage
from reporting import selectors
from routing.models import Assignment, ClockKind, TeamMembership
from tests.factories import ChecklistItemFactory, CriteriaSetFactory, UserFactory

from .conftest import T0, clock, hours, journey, scope_for, set_targets

pytestmark = pytest.mark.django_db

ENGAGED, MQL, ACCEPTED, REJECTED = Stage.ENGAGED, Stage.MQL, Stage.ACCEPTED, Stage.REJECTED
SQL, OPP, NURTURE = Stage.SQL, Stage.OPPORTUNITY, Stage.NURTURE
DAY = 24


# --- funnel -----------------------------------------------------------------------------------


def test_it_counts_the_funnel_of_the_mql_cohort(march, marketing):
    report = selectors.funnel(scope_for(marketing))

    o = report.overall
    assert (o.mqls, o.accepted, o.rejected, o.sql, o.opportunities, o.still_open) == (
        6,
        3,
        2,
        2,
        1,
        2,
    )
    # L1-L7 entered the funnel in March, L1-L6 became MQLs
    assert (o.engaged, o.engaged_to_mql) == (7, 6)
    assert o.engaged_mql_rate == pytest.approx(6 / 7)
    assert (o.accept_rate, o.reject_rate) == (0.5, pytest.approx(1 / 3))
    assert o.accepted_sql_rate == pytest.approx(2 / 3)
    assert o.sql_opportunity_rate == 0.5
    assert o.mql_sql_rate == pytest.approx(1 / 3)


def test_it_splits_the_funnel_by_channel(march, marketing):
    report = selectors.funnel(scope_for(marketing))

    rows = {
        r.key: (r.engaged, r.engaged_to_mql, r.mqls, r.accepted, r.rejected, r.sql, r.opportunities)
        for r in report.channels
    }
    assert rows == {
        "inbound_form": (4, 4, 4, 3, 1, 2, 1),
        "webinar": (3, 2, 2, 0, 1, 0, 0),
    }
    by_key = {r.key: r for r in report.channels}
    assert by_key["inbound_form"].mql_sql_rate == 0.5
    assert by_key["webinar"].mql_sql_rate == 0.0


def test_it_reads_mql_to_sql_against_the_target_band(march, marketing):
    report = selectors.funnel(scope_for(marketing))
    band = report.band

    assert band.advice(report.overall.mql_sql_rate) == "the bar may be too high"  # 33.3%
    assert band.advice(0.0) == "tighten the MQL definition"  # the webinar leads
    assert [band.advice(v) for v in (0.11, 0.15, 0.22, 0.27, None)] == [
        "below the industry average",
        "above average, below the target band",
        "in the target band",
        "above the target band",
        "no data",
    ]


def test_it_follows_the_band_marketing_ops_set(march, marketing):
    set_targets(mql_sql_target_high=35, mql_sql_too_high_above=40)

    report = selectors.funnel(scope_for(marketing))

    assert report.band.advice(report.overall.mql_sql_rate) == "in the target band"


def test_it_measures_median_days_between_stages(march, marketing):
    report = selectors.funnel(scope_for(marketing))

    steps = {v.label: (v.median_days, v.p90_days, v.leads) for v in report.velocity}
    # engaged -> MQL: 24, 24, 24, 24, 48, 72 h: median 24 h; p90 at 4.5: 48 + 0.5·24 = 60 h
    assert steps["Engaged → MQL"] == (pytest.approx(1.0), pytest.approx(2.5), 6)
    # MQL -> accepted: 6, 12, 30 h: median 12 h; p90 at 1.8: 12 + 0.8·18 = 26.4 h
    assert steps["MQL → accepted"] == (pytest.approx(0.5), pytest.approx(1.1), 3)
    # accepted -> SQL: 4 and 8 days: median 6; p90 4 + 0.9·4 = 7.6
    assert steps["Accepted → SQL"] == (pytest.approx(6.0), pytest.approx(7.6), 2)
    assert steps["SQL → opportunity"] == (pytest.approx(10.0), pytest.approx(10.0), 1)
    mql_accepted = report.velocity[1].by_channel
    assert mql_accepted == {"inbound_form": pytest.approx(0.5), "webinar": None}


def test_it_shows_the_rejection_and_recycle_flows(march, marketing):
    report = selectors.funnel(scope_for(marketing))

    assert [(f.transition, f.label, f.changes, f.leads) for f in report.flows] == [
        ("accept", "MQL → Accepted", 3, 3),
        ("reject", "MQL → Rejected", 2, 2),
        ("recycle", "Rejected → Nurture", 1, 1),
        ("qualify_sql", "Accepted → SQL", 2, 2),
        ("convert", "SQL → Opportunity", 1, 1),
    ]


def test_a_flow_counts_each_change_and_each_lead_once(march, marketing, other_rep):
    # L9 is rejected, recycled, an MQL again and rejected again: two rejections, one lead
    journey(
        [(ENGAGED, 0), (MQL, 24), (REJECTED, 25), (NURTURE, 26), (MQL, 60), (REJECTED, 61)],
        owner=other_rep,
    )

    flows = {
        f.transition: (f.changes, f.leads) for f in selectors.funnel(scope_for(marketing)).flows
    }

    assert flows["reject"] == (4, 3)  # L4, L5 and L9 twice
    assert flows["recycle"] == (2, 2)  # L4 and L9
    assert flows["qualify_mql"] == (1, 1)  # L9 back from nurture
    assert flows["accept"] == (3, 3)


def test_it_has_no_funnel_for_an_empty_period(march, marketing):
    report = selectors.funnel(scope_for(marketing, mql_from="2025-01-01", mql_to="2025-01-31"))

    assert report.empty
    assert report.overall.mql_sql_rate is None and report.overall.accept_rate is None
    assert [v.median_days for v in report.velocity] == [None, None, None, None]


# --- scope --------------------------------------------------------------------------------


def test_it_limits_a_manager_to_their_teams_leads(march, manager, marketing, west):
    walt = west.memberships.get().user
    journey([(ENGAGED, 0), (MQL, 24)], owner=walt)

    assert selectors.funnel(scope_for(manager)).overall.mqls == 6
    assert selectors.funnel(scope_for(marketing)).overall.mqls == 7
    # leads have no owner before they are MQLs: a manager's scope cannot count engaged leads
    assert selectors.funnel(scope_for(manager)).overall.engaged is None


def test_it_narrows_by_team_rep_channel_and_criteria_version(march, marketing, rep, east, west):
    walt = west.memberships.get().user
    routed_east = journey([(ENGAGED, 0), (MQL, 24)], owner=walt)
    Assignment.objects.create(lead=routed_east, kind="rule", owner=walt, team=east, at=T0)
    Lead.objects.filter(pk=routed_east.pk).update(routed_team=east)  # as routing keeps it

    def mqls(**params):
        return selectors.funnel(scope_for(marketing, **params)).overall.mqls

    # the team a lead was last routed to wins over its owner's team
    assert mqls(team=east.pk) == 7
    assert mqls(team=west.pk) == 0
    assert mqls(owner=rep.pk) == 3
    assert mqls(source="webinar") == 2
    assert mqls(criteria_set=march["L2"].criteria_set_id) == 1
    assert mqls(segment="enterprise") == 0
    assert selectors.funnel(scope_for(marketing, team=east.pk)).overall.engaged is None


# --- SLA compliance -----------------------------------------------------------------------


def test_it_measures_sla_compliance_per_clock(clocks, marketing):
    report = selectors.sla_compliance(scope_for(marketing))

    kinds = {r.kind: (r.clocks, r.met, r.breached, r.met_share) for r in report.by_kind}
    # decision: 6 clocks; met L1, L2; breached L3 and L6 (running past due); the handed-over
    # L4 and the running L5 count as neither
    assert kinds == {
        "decision": (6, 2, 2, 0.5),
        "first_touch": (3, 2, 1, pytest.approx(2 / 3)),
        "disposition": (1, 1, 0, 1.0),
    }
    times = {r.kind: (r.median_hours, r.p90_hours) for r in report.by_kind}
    # decision 1, 3, 6 h: median 3, p90 3 + 0.8·3 = 5.4; first touch 2, 4, 10 h: 4 and 8.8
    assert times["decision"] == (pytest.approx(3.0), pytest.approx(5.4))
    assert times["first_touch"] == (pytest.approx(4.0), pytest.approx(8.8))
    assert times["disposition"] == (pytest.approx(8.0), pytest.approx(8.0))


def test_it_measures_sla_compliance_per_rep_and_team(clocks, marketing):
    report = selectors.sla_compliance(scope_for(marketing))

    reps = {(r.label, r.kind): (r.clocks, r.met, r.breached, r.median_hours) for r in report.by_rep}
    rita, otto = march_names()
    assert reps[(rita, "decision")] == (3, 2, 1, pytest.approx(2.0))
    assert reps[(rita, "first_touch")] == (2, 2, 0, pytest.approx(3.0))
    assert reps[(otto, "decision")] == (3, 0, 1, pytest.approx(6.0))
    assert reps[(otto, "first_touch")] == (1, 0, 1, pytest.approx(10.0))
    teams = {(r.label, r.kind): (r.clocks, r.met, r.breached) for r in report.by_team}
    assert teams == {
        ("East", "decision"): (6, 2, 2),
        ("East", "first_touch"): (3, 2, 1),
        ("East", "disposition"): (1, 1, 0),
    }


def march_names():
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    return tuple(users.get(username=u).get_full_name() for u in ("rita", "otto"))


def test_it_counts_breaches_by_week_and_first_touch_by_source(clocks, marketing):
    report = selectors.sla_compliance(scope_for(marketing))

    assert [(w.week, w.by_kind, w.total) for w in report.breaches_by_week] == [
        (dt.date(2026, 3, 2), {"decision": 2}, 2),
        (dt.date(2026, 3, 9), {"first_touch": 1}, 1),
    ]
    sources = [
        (r.key, r.clocks, r.met, r.breached, r.median_hours, r.p90_hours)
        for r in report.first_touch_by_source
    ]
    assert sources == [("inbound_form", 3, 2, 1, pytest.approx(4.0), pytest.approx(8.8))]


UTC = dt.UTC


@pytest.mark.parametrize(
    ("zone", "week_starts"),
    [
        # Berlin in March is an hour ahead of UTC: its Monday 2 March starts on Sunday
        # 23:00 UTC
        ("Europe/Berlin", dt.datetime(2026, 3, 1, 23, 0, tzinfo=UTC)),
        # Kolkata is five and a half hours ahead: its week starts on a half hour of UTC
        ("Asia/Kolkata", dt.datetime(2026, 3, 1, 18, 30, tzinfo=UTC)),
        ("UTC", dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    ],
)
def test_it_counts_breaches_in_the_weeks_of_the_current_time_zone(
    march, marketing, rep, zone, week_starts
):
    from django.utils import timezone

    tick = dt.timedelta(microseconds=1)
    for due in (week_starts - tick, week_starts, week_starts + dt.timedelta(days=7) - tick):
        clock(
            march["L1"],
            ClockKind.DECISION,
            owner=rep,
            started=due - hours(4),
            due=due,
            stopped=due + hours(1),
            outcome="breached",
            took=5,
        )

    with timezone.override(zone):
        report = selectors.sla_compliance(scope_for(marketing))

    # the last microsecond before the week, then its first and its last microsecond
    assert [(w.week, w.by_kind) for w in report.breaches_by_week] == [
        (dt.date(2026, 2, 23), {"decision": 1}),
        (dt.date(2026, 3, 2), {"decision": 2}),
    ]


# --- rep calibration -------------------------------------------------------------------------


@pytest.fixture
def calibration(east, rep, other_rep):
    """East decides 30 MQLs: Rita 2 rejects and 8 accepts (6 reach SQL), Otto 6 rejects
    (4 misrouted, 2 duplicates) and 4 accepts (1 SQL), Ulla 2 rejects and 8 accepts (no
    SQL). Rita has one more MQL waiting; handoff rejected one of hers (SLA)."""
    ulla = UserFactory(username="ulla", role="Sales rep")
    TeamMembership.objects.create(team=east, user=ulla)
    set_targets(calibration_min_sample=5)

    def decide(owner, rejects, accepts, sql, reasons=("not-mql-definition",)):
        leads = []
        for i in range(rejects):
            leads.append(
                journey(
                    [(MQL, i), (REJECTED, i + 2)], owner=owner, reason=reasons[i % len(reasons)]
                )
            )
        for i in range(accepts):
            steps = [(MQL, i), (ACCEPTED, i + 3)] + ([(SQL, i + 100)] if i < sql else [])
            leads.append(journey(steps, owner=owner))
        return leads

    ritas = decide(rep, 2, 8, 6)
    decide(other_rep, 6, 4, 1, reasons=("misrouted", "misrouted", "duplicate"))
    decide(ulla, 2, 8, 0)
    journey([(MQL, 5)], owner=rep)
    journey([(MQL, 1), (REJECTED, 30)], owner=rep, actor=None, reason="no-response-within-sla")
    for lead, took in ((ritas[0], 1), (ritas[1], 3)):
        clock(lead, ClockKind.DECISION, owner=rep, stopped=T0 + hours(2), outcome="met", took=took)
    return ulla


def test_it_puts_each_rep_beside_the_team_with_wilson_intervals(calibration, marketing, rep):
    report = selectors.rep_calibration(scope_for(marketing))

    rita = next(r for r in report.reps if r.rep == rep.pk)
    assert rita.label == march_names()[0]
    assert (rita.received, rita.decided) == (11, 10)
    assert (rita.accept.value, rita.reject.value, rita.sql_of_accepted.value) == (0.8, 0.2, 0.75)
    # team: 10 rejects of 30 decisions; Wilson (see test_stats): 0.1923 .. 0.5122
    assert (rita.reject.team_successes, rita.reject.team_n) == (10, 30)
    assert rita.reject.team_interval.low == pytest.approx(0.1923, abs=5e-5)
    assert rita.reject.team_interval.high == pytest.approx(0.5122, abs=5e-5)
    # Rita's own rejects, 2 of 10: p = 0.2, d = 1.38416, centre = (0.2 + 0.19208) / d
    # = 0.28326, half = 1.96·sqrt(0.016 + 0.009604) / d = 0.22658 -> 0.0567 .. 0.5098
    assert rita.reject.interval.low == pytest.approx(0.0567, abs=5e-5)
    assert rita.reject.interval.high == pytest.approx(0.5098, abs=5e-5)
    # team accepted -> SQL: 7 of 20: p = 0.35, d = 1.19208, centre = (0.35 + 0.09604) / d
    # = 0.37417, half = 1.96·sqrt(0.011375 + 0.002401) / d = 0.19298 -> 0.1812 .. 0.5671
    team_sql = rita.sql_of_accepted.team_interval
    assert (team_sql.low, team_sql.high) == (
        pytest.approx(0.1812, abs=5e-5),
        pytest.approx(0.5671, abs=5e-5),
    )
    assert rita.median_decision_hours == pytest.approx(2.0)
    assert rita.top_reasons == [("Does not meet the MQL definition", 2)]


def test_it_flags_reps_outside_the_teams_interval_with_the_reason(
    calibration, marketing, rep, other_rep
):
    report = selectors.rep_calibration(scope_for(marketing))

    # by user, not by name: the factories' names are random and may repeat
    flags = {r.rep: r.flags for r in report.reps}
    # Otto rejects 6 of 10 (60%), outside 19-51%; Rita qualifies 6 of 8 accepted (75%) and
    # Ulla 0 of 8, outside 18-57%; Otto's 1 of 4 is under the minimum sample of 5
    assert flags == {
        rep.pk: ["qualifies to SQL 75% vs team 35% (18\u201357%)"],
        other_rep.pk: ["rejects 60% vs team 33% (19\u201351%)"],
        calibration.pk: ["qualifies to SQL 0% vs team 35% (18\u201357%)"],
    }
    otto_row = next(r for r in report.reps if r.rep == other_rep.pk)
    assert otto_row.top_reasons == [
        ("Misrouted (wrong territory or product line)", 4),
        ("Duplicate", 2),
    ]
    assert report.system_rejections == 1


def test_it_does_not_flag_below_the_minimum_sample(calibration, marketing):
    set_targets(calibration_min_sample=11)

    report = selectors.rep_calibration(scope_for(marketing))

    assert all(not r.flags for r in report.reps)


# --- rejection reasons -------------------------------------------------------------------------


def test_it_breaks_rejections_down_by_reason_category_channel_and_rep(march, marketing, rep):
    journey(
        [(MQL, 24), (REJECTED, 30)],
        owner=rep,
        source="webinar",
        reason="not-mql-definition",
        note="Student project",
    )
    journey([(MQL, 24), (REJECTED, 40)], owner=rep, actor=None, reason="no-response-within-sla")

    report = selectors.rejection_reasons(scope_for(marketing))

    reasons = {
        r.label: (r.category, r.rejections, r.without_note, r.expects_note) for r in report.reasons
    }
    assert reasons == {
        "Misrouted (wrong territory or product line)": ("fit", 1, 1, False),
        "Other": ("other", 1, 1, True),
        "Does not meet the MQL definition": ("fit", 1, 0, True),
        "No response within SLA": ("other", 1, 1, False),
    }
    assert report.total == 4
    assert report.by_category == [("Fit", 2), ("Other", 2)]
    # "Other" as a rep's choice: 1 of 4 (handoff's SLA returns are not a choice)
    assert report.other_share == 0.25
    assert report.without_expected_note == 1
    assert [c.lead_id for c in report.missing_notes] == [march["L5"].pk]
    ids = {r.label: r.reason for r in report.reasons}
    assert report.by_channel[(ids["Other"], "webinar")] == 1
    assert (
        report.by_channel[(ids["Misrouted (wrong territory or product line)"], "inbound_form")] == 1
    )
    otto = march["L5"].owner_id
    assert report.by_rep[(ids["Other"], otto)] == 1
    assert report.by_rep[(ids["No response within SLA"], None)] == 1
    assert [label for _, label in report.channels] == ["Inbound form", "Webinar"]


# --- score calibration -------------------------------------------------------------------------


@pytest.fixture
def scored(rep):
    """20 MQLs, 4 per fit score 10, 20, 30, 40, 50 (engagement 60 - fit), accepted 1, 2, 2,
    3, 4 and reaching SQL 0, 0, 0, 1, 2 of them. One fit-10 lead came back later as an MQL
    scoring 90: its first MQL counts."""
    criteria = CriteriaSetFactory(fit_threshold=10, engagement_threshold=10)
    set_targets(calibration_min_sample=10)
    for score, accepted, sql in ((10, 1, 0), (20, 2, 0), (30, 2, 0), (40, 3, 1), (50, 4, 2)):
        for i in range(4):
            if i < accepted:
                steps = [(MQL, 24), (ACCEPTED, 30)] + ([(SQL, 200)] if i < sql else [])
            elif score == 10 and i == 3:
                steps = [(MQL, 24), (REJECTED, 30), (NURTURE, 40), (MQL, 300)]
            else:
                steps = [(MQL, 24), (REJECTED, 30)]
            fit = [score, score, score, 90] if len(steps) == 4 and steps[-1][0] == MQL else score
            journey(steps, owner=rep, fit=fit, engagement=60 - score, criteria_set=criteria)
    return criteria


def test_it_bins_mqls_by_their_score_at_mql_time(scored, marketing):
    report = selectors.score_calibration(scope_for(marketing))

    fit, engagement = report.dimensions
    assert [(b.decile, b.label, b.mqls, b.accepted, b.sql) for b in fit.bins] == [
        (1, "10", 4, 1, 0),
        (3, "20", 4, 2, 0),
        (5, "30", 4, 2, 0),
        (7, "40", 4, 3, 1),
        (9, "50", 4, 4, 2),
    ]
    assert (fit.sql_rises, fit.accept_rises) == (True, True)
    assert [b.sql_rate for b in engagement.bins] == [0.5, 0.25, 0, 0, 0]
    assert engagement.sql_rises is False
    assert fit.current == [(f"{scored.name} v1", 10)]
    assert report.versions == 1


def test_it_suggests_the_threshold_that_puts_mql_to_sql_in_the_band(scored, marketing):
    report = selectors.score_calibration(scope_for(marketing))

    fit, engagement = report.dimensions
    # at least 30: 3 SQL of 12 MQLs = 25%, inside 20-25% with at least 10 MQLs kept
    s = fit.suggestion
    assert (s.score, s.mqls, s.sql, s.sql_rate, s.total_mqls, s.total_sql) == (
        30,
        12,
        3,
        0.25,
        20,
        3,
    )
    assert engagement.suggestion is None


# --- service-level scorecard ------------------------------------------------------------------


def test_it_scores_both_sides_of_the_agreement_week_by_week(clocks, marketing):
    set_targets(monthly_mql_commitment=20, acceptance_target=80)

    card = selectors.scorecard(scope_for(marketing))

    weeks = [
        (
            w.week,
            w.mqls,
            w.decided,
            w.accepted,
            w.decisions_met,
            w.decisions_measured,
            w.touches_met,
            w.touches_measured,
        )
        for w in card.weeks
    ]
    # 1 March is a Sunday: the period touches six weeks; every MQL came in the week of 2 March
    assert weeks[0] == (dt.date(2026, 2, 23), 0, 0, 0, 0, 0, 0, 0)
    assert weeks[1] == (dt.date(2026, 3, 2), 6, 5, 3, 2, 4, 2, 3)
    assert [w.week for w in card.weeks[2:]] == [dt.date(2026, 3, d) for d in (9, 16, 23, 30)]
    assert all(w.mqls == 0 and w.acceptance is None for w in card.weeks[2:])
    w = card.weeks[1]
    assert (w.acceptance, w.decisions_in_sla, w.touches_in_sla) == (0.6, 0.5, pytest.approx(2 / 3))
    assert (card.total.mqls, card.total.acceptance) == (6, 0.6)
    assert card.weekly_commitment == pytest.approx(20 * 12 / 52)
    assert card.acceptance_target == 0.8
    assert [(m.month, m.mqls, m.partial) for m in card.months] == [(dt.date(2026, 3, 1), 6, False)]


# --- pipeline planner ---------------------------------------------------------------------


def test_it_plans_the_pipeline_from_a_revenue_target(march, marketing):
    plan = selectors.pipeline_plan(
        scope_for(marketing),
        revenue_target=1_200_000,
        average_deal_size=25_000,
        win_rate=0.25,
        months=12,
    )

    # 1,200,000 / 12 / 25,000 = 4 won deals a month; / 25% = 16 SQLs; MQL -> SQL 2 of 6
    assert [(c.label, c.mql_sql, c.won_deals, c.sqls, c.mqls) for c in plan.columns] == [
        ("Measured in the period", pytest.approx(1 / 3), 4.0, 16.0, pytest.approx(48.0)),
        ("Industry average", 0.13, 4.0, 16.0, pytest.approx(123.0769, abs=1e-4)),
        ("Top quartile (low)", 0.2, 4.0, 16.0, pytest.approx(80.0)),
        ("Top quartile (high)", 0.25, 4.0, 16.0, pytest.approx(64.0)),
    ]


def test_it_plans_with_industry_rates_when_nothing_was_measured(marketing):
    plan = selectors.pipeline_plan(
        scope_for(marketing), revenue_target=100, average_deal_size=10, win_rate=0.5, months=1
    )

    assert plan.columns[0].mqls is None and plan.columns[0].mql_sql is None
    assert plan.columns[1].mqls == pytest.approx(20 / 0.13)


# --- checklist ----------------------------------------------------------------------------------


def test_it_counts_unknown_and_not_met_items_by_verdict(rep, marketing):
    criteria = CriteriaSetFactory(status="draft")
    must = ChecklistItemFactory(criteria_set=criteria, question="Budget owner", must_have=True)
    nice = ChecklistItemFactory(criteria_set=criteria, question="Supplier", must_have=False)

    def snap(first, second):
        return [
            {"item": must.pk, "answer": first, "must_have": True},
            {"item": nice.pk, "answer": second, "must_have": False},
        ]

    common = {"owner": rep, "criteria_set": criteria}
    journey([(MQL, 1), (REJECTED, 2)], snapshots={REJECTED: snap("unknown", "unknown")}, **common)
    journey([(MQL, 1), (REJECTED, 2)], snapshots={REJECTED: snap("not_met", "unknown")}, **common)
    journey(
        [(MQL, 1), (ACCEPTED, 2), (SQL, 3)], snapshots={SQL: snap("confirmed", "unknown")}, **common
    )
    journey(
        [(MQL, 1), (ACCEPTED, 2), (NURTURE, 3)],
        snapshots={NURTURE: snap("not_met", "confirmed")},
        **common,
    )

    report = selectors.checklist(scope_for(marketing))

    assert report.verdicts == {"rejected": 2, "sql": 1, "not_now": 1}
    counts = {
        i.question: {k: (c.verdicts, c.unknown, c.not_met) for k, c in i.by_verdict.items()}
        for i in report.items
    }
    assert counts == {
        "Budget owner": {"rejected": (2, 1, 1), "not_now": (1, 0, 1), "sql": (1, 0, 0)},
        "Supplier": {"rejected": (2, 2, 0), "not_now": (1, 0, 0), "sql": (1, 1, 0)},
    }
    budget = report.items[0].by_verdict["rejected"]
    assert (budget.unknown_share, budget.not_met_share) == (0.5, 0.5)


def test_an_accept_counts_as_reaching_sql_only_when_sql_came_after_it(marketing, rep, east):
    # both leads were an SQL once and came back as MQLs; only one reached SQL again
    back = [(ENGAGED, 0), (MQL, 1), (ACCEPTED, 2), (SQL, 3), (NURTURE, 4), (MQL, 5), (ACCEPTED, 6)]
    journey([*back, (SQL, 7)], owner=rep)
    journey(back, owner=rep)

    report = selectors.rep_calibration(scope_for(marketing))

    (row,) = report.reps
    # four accepts; SQL followed three of them (both first accepts, one second accept)
    assert (row.sql_of_accepted.successes, row.sql_of_accepted.n) == (3, 4)
