"""SLA clocks: started and stopped by the lifecycle, swept by time. Time is passed in
(`at`, `now`) or travelled to with time-machine; the calendar is Mon-Fri 9-17 Berlin."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads import services
from leads.models import Lead, StageChange
from leads.stages import Stage
from routing import services as routing_services
from routing import sla
from routing.models import Assignment, ClockKind, Notification, OutOfOffice, SlaClock
from routing.selectors import latest_assignment
from tests.factories import (
    LeadFactory,
    RoutingRuleFactory,
    SlaPolicyFactory,
    TeamFactory,
    UserFactory,
)
from tests.routing.conftest import MONDAY_10, at, make_mql

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


def clock(lead, kind) -> SlaClock:
    return SlaClock.objects.get(lead=lead, kind=kind)


def running(lead) -> set[str]:
    return set(
        SlaClock.objects.filter(lead=lead, stopped_at__isnull=True).values_list("kind", flat=True)
    )


def notes(kind, **filters):
    return Notification.objects.filter(kind=kind, **filters)


@pytest.fixture
def team(rep, other_rep, manager):
    team = TeamFactory(reps=[rep, other_rep], manager=manager)
    RoutingRuleFactory(team=team)
    return team


# --- starting and stopping ------------------------------------------------------------------


def test_a_new_mql_starts_the_decision_clock_for_its_owner_in_business_time(team, rep):
    SlaPolicyFactory(decision_minutes=4 * 60)
    friday_16 = at(4, 16)

    lead = make_mql(when=friday_16)

    decision = clock(lead, ClockKind.DECISION)
    assert decision.owner == rep
    assert decision.started_at == friday_16
    # 1 hour on Friday, 3 on Monday; 75 % = 3 hours: Monday 11:00
    assert decision.due_at == at(7, 12)
    assert decision.warn_at == at(7, 11)


def test_it_picks_the_policy_for_the_priority_and_channel(team):
    standard = SlaPolicyFactory(name="Standard", decision_minutes=240)
    hot = SlaPolicyFactory(name="Hot", priority="hot", decision_minutes=60)
    hot_rfq = SlaPolicyFactory(name="Hot RFQ", priority="hot", source="rfq", decision_minutes=30)

    assert clock(make_mql(), ClockKind.DECISION).policy == standard
    assert clock(make_mql(priority="hot"), ClockKind.DECISION).policy == hot
    assert clock(make_mql(priority="hot", source="rfq"), ClockKind.DECISION).policy == hot_rfq
    # no policy for low priority: the standard one still runs a clock
    assert clock(make_mql(priority="low"), ClockKind.DECISION).policy == standard


def test_without_a_policy_no_clock_runs(team):
    lead = make_mql()

    assert not SlaClock.objects.filter(lead=lead).exists()


def test_accept_stops_the_decision_clock_and_starts_first_touch_and_qualification(team, rep):
    SlaPolicyFactory()
    lead = make_mql()

    services.accept(lead=lead, by=rep, at=MONDAY_10 + 2 * HOUR)

    decision = clock(lead, ClockKind.DECISION)
    assert (decision.stopped_by, decision.outcome) == ("accept", SlaClock.Outcome.MET)
    assert decision.business_time == 2 * HOUR
    assert running(lead) == {ClockKind.FIRST_TOUCH, ClockKind.QUALIFICATION}
    assert clock(lead, ClockKind.FIRST_TOUCH).started_at == MONDAY_10 + 2 * HOUR


def test_an_accept_after_the_due_time_is_recorded_as_breached(team, rep):
    SlaPolicyFactory(decision_minutes=60)
    lead = make_mql()

    services.accept(lead=lead, by=rep, at=MONDAY_10 + 2 * HOUR)

    assert clock(lead, ClockKind.DECISION).outcome == SlaClock.Outcome.BREACHED


def test_the_first_logged_touch_stops_the_first_touch_clock(team, rep):
    SlaPolicyFactory()
    lead = make_mql()
    services.accept(lead=lead, by=rep, at=MONDAY_10)

    services.log_touch(
        lead=lead, by=rep, kind="call", outcome="connected", occurred_at=MONDAY_10 + 3 * HOUR
    )
    services.log_touch(lead=lead, by=rep, kind="email", outcome="replied")

    first_touch = clock(lead, ClockKind.FIRST_TOUCH)
    assert (first_touch.stopped_by, first_touch.outcome) == ("touch", SlaClock.Outcome.MET)
    assert first_touch.business_time == 3 * HOUR
    assert running(lead) == {ClockKind.QUALIFICATION}


def test_a_call_before_accepting_meets_the_first_touch_at_once(team, rep):
    SlaPolicyFactory()
    lead = make_mql()
    services.log_touch(lead=lead, by=rep, kind="call", outcome="connected", occurred_at=MONDAY_10)

    services.accept(lead=lead, by=rep, at=MONDAY_10 + HOUR)

    assert clock(lead, ClockKind.FIRST_TOUCH).outcome == SlaClock.Outcome.MET
    assert running(lead) == {ClockKind.QUALIFICATION}


def test_qualify_sql_stops_the_sales_clocks(team, rep):
    SlaPolicyFactory()
    lead = make_mql()
    lead = services.accept(lead=lead, by=rep, at=MONDAY_10).lead

    services.qualify_sql(lead=lead, by=rep, next_step="Demo", at=at(1, 10))

    assert clock(lead, ClockKind.QUALIFICATION).stopped_by == "qualify_sql"
    assert clock(lead, ClockKind.QUALIFICATION).business_time == 8 * HOUR
    assert running(lead) == set()


def test_a_rejection_starts_marketings_disposition_clock_which_recycle_stops(team, rep, marketing):
    SlaPolicyFactory()
    lead = make_mql()

    services.reject(lead=lead, by=rep, reason="misrouted", at=MONDAY_10 + HOUR)

    assert clock(lead, ClockKind.DECISION).stopped_by == "reject"
    disposition = clock(lead, ClockKind.DISPOSITION)
    assert disposition.owner is None
    told = Notification.objects.get(recipient=marketing, kind="lead_rejected")
    assert f"{rep.get_full_name()} rejected this lead: Misrouted (wrong territory" in told.body
    assert "by Mon 09 Mar 2026, 11:00 CET" in told.body

    services.recycle(lead=Lead.objects.get(pk=lead.pk), by=marketing, at=at(1, 10))

    disposition.refresh_from_db()
    assert (disposition.stopped_by, disposition.outcome) == ("recycle", "met")
    assert running(lead) == set()


def test_a_dispute_stops_the_disposition_clock_and_starts_the_managers_decision(
    team, rep, manager, marketing
):
    SlaPolicyFactory()
    lead = make_mql()
    services.reject(lead=lead, by=rep, reason="misrouted", at=MONDAY_10)

    services.dispute(lead=Lead.objects.get(pk=lead.pk), by=marketing, note="Ours", at=at(1, 10))

    assert clock(lead, ClockKind.DISPOSITION).stopped_by == "dispute"
    decisions = SlaClock.objects.filter(lead=lead, kind=ClockKind.DECISION).order_by("pk")
    assert [c.owner for c in decisions] == [rep, manager]
    assert decisions.last().started_at == at(1, 10)


def test_closing_a_lead_stops_every_clock(team, rep):
    SlaPolicyFactory()
    lead = make_mql()
    lead = services.accept(lead=lead, by=rep, at=MONDAY_10).lead

    services.disqualify(lead=lead, by=rep, reason="competitor", at=MONDAY_10 + HOUR)

    assert running(lead) == set()
    assert set(SlaClock.objects.filter(lead=lead).values_list("stopped_by", flat=True)) == {
        "accept",
        "disqualify",
    }


def test_sales_clocks_start_at_assignment_not_at_mql_time(rep, manager):
    SlaPolicyFactory(decision_minutes=60)
    lead = make_mql()  # no team yet: nobody to route to
    assert lead.owner is None
    assert not SlaClock.objects.filter(lead=lead).exists()

    routing_services.reassign(lead=lead, to=rep, by=manager, at=MONDAY_10 + 2 * HOUR)

    decision = clock(lead, ClockKind.DECISION)
    assert decision.started_at == MONDAY_10 + 2 * HOUR
    assert decision.due_at == MONDAY_10 + 3 * HOUR
    # the routing delay stays visible: the lead became an MQL two hours earlier
    assert StageChange.objects.get(lead=lead, to_stage=Stage.MQL).at == MONDAY_10


# --- the sweep ---------------------------------------------------------------------------


def test_warning_breach_reassign_and_return_each_happen_once(team, rep, other_rep, manager):
    SlaPolicyFactory(
        decision_minutes=4 * 60, warning_percent=75, breach_action="reassign", max_reassignments=1
    )
    lead = make_mql()  # Monday 10:00, to rep: warn 13:00, due 14:00
    assert lead.owner == rep

    assert sla.sweep(at(0, 12, 59)).warned == 0
    assert sla.sweep(at(0, 13)).warned == 1
    assert sla.sweep(at(0, 13, 30)).warned == 0
    warning = notes("sla_warning").get()
    assert warning.recipient == rep
    assert "due Mon 02 Mar 2026, 14:00 CET" in warning.body

    result = sla.sweep(at(0, 14))
    assert (result.breached, result.reassigned) == (1, 1)
    assert sla.sweep(at(0, 14, 1)).breached == 0
    lead.refresh_from_db()
    assert lead.owner == other_rep
    first = SlaClock.objects.filter(lead=lead).order_by("pk").first()
    assert (first.outcome, first.stopped_by, first.breached_at) == (
        "breached",
        "reassigned",
        at(0, 14),
    )
    moved = latest_assignment(lead)
    assert moved.kind == Assignment.Kind.SLA
    assert moved.explanation[0].startswith(f"{rep.get_full_name()} did not act in time")
    assert f"{rep.get_full_name()} skipped: the lead is being taken away from them." in (
        moved.explanation
    )
    assert {n.recipient for n in notes("sla_breach")} == {rep, manager}
    # the rep who breached reads where the lead went in the breach notice: no second one
    assert (
        f"Reassigned to {other_rep.get_full_name()}." in notes("sla_breach").get(recipient=rep).body
    )
    assert {n.recipient for n in notes("reassigned")} == {other_rep}
    # the new owner's clock: a full 4 business hours from 14:00, warned at 17:00
    second = SlaClock.objects.get(lead=lead, stopped_at__isnull=True)
    assert (second.owner, second.due_at) == (other_rep, at(1, 10))

    assert sla.sweep(at(0, 17)).warned == 1
    result = sla.sweep(at(1, 10))
    assert (result.breached, result.reassigned, result.returned) == (1, 0, 1)
    assert sla.sweep(at(1, 11)).as_dict() == sla.SweepResult().as_dict()

    lead.refresh_from_db()
    assert lead.stage == Stage.REJECTED
    rejection = StageChange.objects.get(lead=lead, transition="reject")
    assert (rejection.actor, rejection.reason.code) == (None, "no-response-within-sla")
    assert notes("sla_warning").count() == 2
    assert notes("sla_breach").count() == 4  # owner and manager, twice
    assert Assignment.objects.filter(lead=lead, kind="sla").count() == 1
    assert running(lead) == {ClockKind.DISPOSITION}


def test_a_return_action_rejects_the_undecided_mql_with_the_system_reason(team, rep, marketing):
    SlaPolicyFactory(decision_minutes=60, breach_action="return_to_marketing")
    lead = make_mql()

    result = sla.sweep(MONDAY_10 + HOUR)

    assert result.returned == 1
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED
    told = Notification.objects.get(recipient=marketing, kind="lead_rejected")
    assert "handoff (system) rejected this lead: No response within SLA." in told.body


def test_reassign_falls_back_to_returning_when_nobody_else_can_take_it(rep):
    team = TeamFactory(reps=[rep], manager=rep)  # the rep is their own manager
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")
    lead = make_mql()

    result = sla.sweep(MONDAY_10 + HOUR)

    assert (result.reassigned, result.returned) == (0, 1)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED


def test_notify_only_keeps_the_clock_running_breached(team, rep):
    SlaPolicyFactory(decision_minutes=60)
    lead = make_mql()

    sla.sweep(MONDAY_10 + HOUR)
    sla.sweep(MONDAY_10 + 2 * HOUR)

    decision = clock(lead, ClockKind.DECISION)
    assert decision.stopped_at is None
    assert decision.breached_at == MONDAY_10 + HOUR
    assert notes("sla_breach").count() == 2  # owner and manager, once

    services.accept(lead=lead, by=rep, at=MONDAY_10 + 3 * HOUR)
    decision.refresh_from_db()
    assert (decision.outcome, decision.business_time) == ("breached", 3 * HOUR)


def test_a_missed_hour_is_caught_up_without_a_late_warning(team, rep):
    SlaPolicyFactory(decision_minutes=60, warning_percent=50)
    late = make_mql()
    early = make_mql(when=MONDAY_10 + HOUR)  # warn 11:30, due 12:00

    result = sla.sweep(MONDAY_10 + 90 * dt.timedelta(minutes=1))

    assert (result.warned, result.breached) == (1, 1)
    assert clock(late, ClockKind.DECISION).warned_at is not None
    assert notes("sla_warning").get().lead == early
    assert notes("sla_breach", lead=late).exists()
    assert not notes("sla_warning", lead=late).exists()


def test_a_disposition_breach_tells_marketing(team, rep, marketing):
    SlaPolicyFactory(disposition_minutes=60, breach_action="reassign")
    lead = make_mql()
    services.reject(lead=lead, by=rep, reason="misrouted", at=MONDAY_10)

    sla.sweep(MONDAY_10 + HOUR)

    assert notes("sla_breach").get().recipient == marketing
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED  # no action but telling


def test_the_sweep_costs_the_same_queries_for_few_or_many_warnings(team):
    SlaPolicyFactory(decision_minutes=60, warning_percent=50)

    def queries_for(count: int) -> int:
        for _ in range(count):
            make_mql()
        with CaptureQueriesContext(connection) as captured:
            assert sla.sweep(MONDAY_10 + 30 * dt.timedelta(minutes=1)).warned == count
        return len(captured)

    assert queries_for(2) == queries_for(12)


def test_a_nurtured_lead_returns_to_its_owner_as_an_mql_on_its_follow_up_date_once(team, rep):
    SlaPolicyFactory()
    lead = make_mql()
    lead = services.accept(lead=lead, by=rep, at=MONDAY_10).lead
    services.nurture(
        lead=lead, by=rep, reason="no-budget-yet", follow_up_on=at(7, 0).date(), at=MONDAY_10
    )
    waiting = LeadFactory(stage=Stage.NURTURE, owner=rep, follow_up_on=at(8, 0).date())

    with time_machine.travel(at(6, 23), tick=False):
        assert sla.sweep(at(6, 23)).followed_up == 0
    with time_machine.travel(at(7, 6), tick=False):
        assert sla.sweep(at(7, 6)).followed_up == 1
        assert sla.sweep(at(7, 7)).followed_up == 0

    lead.refresh_from_db()
    assert (lead.stage, lead.owner, lead.follow_up_on, lead.mql_cycle) == (
        Stage.MQL,
        rep,
        None,
        2,
    )
    assert StageChange.objects.filter(lead=lead, transition="qualify_mql").count() == 2
    record = latest_assignment(lead)
    assert record.kind == Assignment.Kind.FOLLOW_UP
    assert running(lead) == {ClockKind.DECISION}
    assert notes("new_mql", lead=lead).count() == 2
    assert "its follow-up date has come" in notes("new_mql", lead=lead).first().body
    assert Lead.objects.get(pk=waiting.pk).stage == Stage.NURTURE


def test_the_management_command_sweeps(team, capsys):
    SlaPolicyFactory(decision_minutes=1)
    make_mql(when=MONDAY_10 - dt.timedelta(days=7))

    call_command("sla_sweep")

    assert "breached 1" in capsys.readouterr().out


def test_a_manual_reassignment_hands_over_the_running_clock(team, rep, other_rep, manager):
    SlaPolicyFactory(decision_minutes=240)
    lead = make_mql()

    routing_services.reassign(lead=lead, to=other_rep, by=manager, at=MONDAY_10 + HOUR)

    old, new = SlaClock.objects.filter(lead=lead).order_by("pk")
    assert (old.owner, old.outcome, old.stopped_by) == (rep, "reassigned", "reassigned")
    assert (new.owner, new.started_at, new.due_at) == (other_rep, MONDAY_10 + HOUR, at(0, 15))


def test_reassigning_an_accepted_lead_restarts_only_an_untouched_first_touch(
    team, rep, other_rep, manager
):
    SlaPolicyFactory()
    lead = make_mql()
    services.accept(lead=lead, by=rep, at=MONDAY_10)
    touched = make_mql()
    services.accept(lead=touched, by=other_rep, at=MONDAY_10)
    services.log_touch(lead=touched, by=other_rep, kind="call", outcome="connected")

    routing_services.reassign(lead=lead, to=other_rep, by=manager, at=MONDAY_10 + HOUR)
    routing_services.reassign(lead=touched, to=rep, by=manager, at=MONDAY_10 + HOUR)

    assert SlaClock.objects.filter(lead=lead, kind="first_touch").count() == 2
    assert clock(lead, ClockKind.QUALIFICATION).owner == rep  # runs on
    assert SlaClock.objects.filter(lead=touched, kind="first_touch").count() == 1


def test_a_lead_keeps_the_team_of_its_latest_routing(team, rep, other_rep, manager):
    # the reports and a disputed rejection read the lead's team from the lead itself
    SlaPolicyFactory(decision_minutes=240)
    night_rep = UserFactory(role="Sales rep")
    night = TeamFactory(reps=[night_rep], manager=manager)
    lead = make_mql()

    def routed_team():
        latest = Assignment.objects.filter(lead=lead, team__isnull=False).latest("at", "pk")
        return Lead.objects.get(pk=lead.pk).routed_team, latest.team

    assert routed_team() == (team, team)  # routed by the rules
    routing_services.reassign(lead=lead, to=night_rep, by=manager, at=MONDAY_10 + HOUR)
    assert routed_team() == (night, night)
    routing_services.reassign(lead=lead, to=other_rep, by=manager, at=MONDAY_10 + 2 * HOUR)
    assert routed_team() == (team, team)


def test_a_breach_tells_the_manager_of_the_team_the_lead_was_last_routed_to(team, rep, manager):
    SlaPolicyFactory(decision_minutes=60)  # notify only
    night_rep, night_manager = UserFactory(role="Sales rep"), UserFactory(role="Sales manager")
    TeamFactory(reps=[night_rep], manager=night_manager)
    day_lead, night_lead = make_mql(), make_mql()
    routing_services.reassign(lead=night_lead, to=night_rep, by=manager, at=MONDAY_10)

    result = sla.sweep(MONDAY_10 + 2 * HOUR)

    assert result.breached == 2
    told = {
        lead: set(notes("sla_breach", lead=lead).values_list("recipient__username", flat=True))
        for lead in (day_lead, night_lead)
    }
    # each team's manager hears of their own team's breach, not every sales manager
    assert told == {
        day_lead: {rep.username, manager.username},
        night_lead: {night_rep.username, night_manager.username},
    }


def test_reps_and_marketing_cannot_reassign(team, rep, other_rep, marketing):
    from leads.services import LeadActionRefused

    lead = make_mql()
    for by in (rep, marketing):
        with pytest.raises(LeadActionRefused) as refused:
            routing_services.reassign(lead=lead, to=other_rep, by=by)
        assert refused.value.code == "permission"
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_the_teams_manager_may_reassign_without_the_sales_manager_role(rep, other_rep):
    lead_manager = UserFactory(role="Sales rep")
    RoutingRuleFactory(team=TeamFactory(reps=[rep, other_rep], manager=lead_manager))
    lead = make_mql()

    routing_services.reassign(lead=lead, to=other_rep, by=lead_manager, note="Rita is at a fair")

    record = latest_assignment(lead)
    assert (record.kind, record.by, record.note) == ("manual", lead_manager, "Rita is at a fair")
    assert record.previous_owner == rep


@pytest.mark.parametrize(
    ("target", "stage", "code"),
    [
        ("marketing", Stage.MQL, "owner_invalid"),
        ("rep", Stage.MQL, "owner_unchanged"),
        ("other_rep", Stage.REJECTED, "not_allowed"),
        ("other_rep", Stage.OPPORTUNITY, "not_allowed"),
    ],
)
def test_it_refuses_a_reassignment_that_makes_no_sense(request, rep, manager, target, stage, code):
    from leads.services import LeadActionRefused

    lead = LeadFactory(stage=stage, owner=rep)
    with pytest.raises(LeadActionRefused) as refused:
        routing_services.reassign(lead=lead, to=request.getfixturevalue(target), by=manager)

    assert refused.value.code == code
    assert not Assignment.objects.filter(lead=lead).exists()


def test_an_archived_leads_clocks_end_quietly(team, marketing):
    SlaPolicyFactory(decision_minutes=60)
    lead = make_mql()
    services.archive(lead=lead, by=marketing)

    result = sla.sweep(timezone.now())

    assert result.breached == 0
    assert clock(lead, ClockKind.DECISION).stopped_by == "archived"
    assert not notes("sla_breach").exists()


def test_a_follow_up_whose_owner_is_away_is_routed_by_the_rules(team, rep, other_rep):
    lead = make_mql()
    lead = services.accept(lead=lead, by=rep, at=MONDAY_10).lead
    services.nurture(
        lead=lead, by=rep, reason="no-budget-yet", follow_up_on=at(7, 0).date(), at=MONDAY_10
    )
    OutOfOffice.objects.create(
        user=rep, unavailable_from=at(7, 0).date(), unavailable_to=at(9, 0).date()
    )

    with time_machine.travel(at(7, 6), tick=False):
        sla.sweep(at(7, 6))

    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.MQL, other_rep)
    assert (
        latest_assignment(lead)
        .explanation[0]
        .endswith("but is not available: routed by the rules instead.")
    )


def test_a_lead_nobody_can_take_loses_its_old_owner(rep, marketing):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    services.reject(lead=lead, by=rep, reason="misrouted")
    services.recycle(lead=Lead.objects.get(pk=lead.pk), by=marketing)

    back = services.qualify_mql(lead=Lead.objects.get(pk=lead.pk)).lead

    assert back.owner is None
    assert Lead.objects.get(pk=lead.pk).owner is None
    assert latest_assignment(back).previous_owner == rep
