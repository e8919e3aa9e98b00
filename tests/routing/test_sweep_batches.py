"""The sweep at scale: a batch of due clocks costs the same queries however many clocks
are due or running, and the breach actions of one batch (reassign, return to marketing)
come out as they would one lead at a time."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Lead, StageChange
from leads.stages import Stage
from routing import sla
from routing.models import Assignment, ClockKind, Notification, SlaClock, TeamMembership
from routing.selectors import latest_assignment
from tests.factories import RoutingRuleFactory, SlaPolicyFactory, TeamFactory, UserFactory
from tests.routing.conftest import MONDAY_10, make_mql

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


def sweep_queries(now: dt.datetime) -> tuple[int, sla.SweepResult]:
    with CaptureQueriesContext(connection) as captured:
        result = sla.sweep(now)
    return len(captured), result


def test_it_costs_the_same_queries_for_2_or_20_breaches_reassigned(rep, other_rep, manager):
    third = UserFactory(role="Sales rep")
    team = TeamFactory(reps=[rep, other_rep, third], manager=manager, max_open_leads=100)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")

    def queries_for(count: int) -> int:
        leads = [make_mql() for _ in range(count)]
        queries, result = sweep_queries(MONDAY_10 + HOUR)
        assert (result.breached, result.reassigned) == (count, count)
        assert Assignment.objects.filter(kind="sla", lead__in=leads).count() == count
        return queries

    assert queries_for(2) == queries_for(20)


def test_a_reassignment_writes_each_lead_once_with_its_new_owner_and_due_time(
    rep, other_rep, manager
):
    """The new owner and the team page's due time (the new owner's decision clock) are
    one write of the leads, not one each: every write of a lead rewrites its indexes."""
    team = TeamFactory(reps=[rep, other_rep], manager=manager, max_open_leads=100)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")
    leads = [make_mql() for _ in range(3)]
    first_owners = {lead.pk: Lead.objects.get(pk=lead.pk).owner_id for lead in leads}
    with CaptureQueriesContext(connection) as captured:
        result = sla.sweep(MONDAY_10 + HOUR)
    assert result.reassigned == 3
    lead_writes = [
        q for q in captured.captured_queries if q["sql"].startswith('UPDATE "leads_lead"')
    ]
    assert len(lead_writes) == 1
    for lead in Lead.objects.filter(pk__in=[lead.pk for lead in leads]):
        assert lead.owner_id not in (None, first_owners[lead.pk])
        running = SlaClock.objects.get(lead=lead, stopped_at__isnull=True, kind="decision")
        assert running.owner_id == lead.owner_id
        assert lead.sla_due_at == running.due_at


def test_it_costs_the_same_queries_for_2_or_20_breaches_told(rep, other_rep, manager, marketing):
    team = TeamFactory(reps=[rep, other_rep], manager=manager, max_open_leads=100)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, warning_percent=50)

    def queries_for(count: int) -> int:
        for _ in range(count):
            make_mql()
        queries, result = sweep_queries(MONDAY_10 + HOUR)
        assert result.breached == count
        return queries

    assert queries_for(2) == queries_for(20)
    assert Notification.objects.filter(kind="sla_breach").count() == 2 * 22  # owner, manager


def test_it_costs_the_same_queries_among_few_or_many_running_clocks(rep, other_rep, manager):
    team = TeamFactory(reps=[rep, other_rep], manager=manager, max_open_leads=100)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")
    # clocks running but not due (the decision is due at 11:00, these at 14:00 and later)
    for _ in range(30):
        make_mql(when=MONDAY_10 + 3 * HOUR)
    few = sweep_queries(MONDAY_10 + HOUR)[0]  # nothing due yet: the bare cost

    make_mql()
    make_mql()
    queries, result = sweep_queries(MONDAY_10 + HOUR)
    assert (result.breached, result.reassigned) == (2, 2)
    for _ in range(30):
        make_mql(when=MONDAY_10 + 4 * HOUR)
    make_mql()
    make_mql()
    assert sweep_queries(MONDAY_10 + HOUR)[0] == queries
    assert few < queries
    assert SlaClock.objects.filter(stopped_at__isnull=True).count() == 64


def test_a_batch_of_mixed_policies_reassigns_hot_leads_and_returns_standard_ones(
    rep, other_rep, manager, marketing
):
    team = TeamFactory(reps=[rep, other_rep], manager=manager)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(priority="hot", decision_minutes=60, breach_action="reassign")
    SlaPolicyFactory(priority="standard", decision_minutes=60, breach_action="return_to_marketing")
    hot = [make_mql(priority="hot") for _ in range(4)]
    standard = [make_mql() for _ in range(3)]

    result = sla.sweep(MONDAY_10 + HOUR)

    assert (result.breached, result.reassigned, result.returned, result.failed) == (7, 4, 3, 0)
    for lead in hot:
        before = lead.owner
        lead.refresh_from_db()
        assert lead.stage == Stage.MQL
        assert lead.owner not in (None, before)  # never back to the rep who breached
        moved = latest_assignment(lead)
        assert (moved.kind, moved.previous_owner) == (Assignment.Kind.SLA, before)
        assert moved.explanation[0].startswith(f"{before.get_full_name()} did not act in time")
        new_clock = SlaClock.objects.get(lead=lead, stopped_at__isnull=True)
        assert (new_clock.kind, new_clock.owner, new_clock.due_at) == (
            ClockKind.DECISION,
            lead.owner,
            MONDAY_10 + 2 * HOUR,
        )
        assert lead.sla_due_at == new_clock.due_at  # the team page's order follows
        # the new owner is told of the lead; the one who breached, by the breach notice
        # alone, which says where the lead went
        assert Notification.objects.filter(lead=lead, kind="reassigned").get().recipient == (
            lead.owner
        )
        breach = Notification.objects.get(lead=lead, kind="sla_breach", recipient=before)
        assert f"Reassigned to {lead.owner.get_full_name()}." in breach.body
    for lead in standard:
        lead.refresh_from_db()
        assert lead.stage == Stage.REJECTED
        rejection = StageChange.objects.get(lead=lead, transition="reject")
        assert (rejection.actor, rejection.reason.code) == (None, "no-response-within-sla")
        assert set(
            SlaClock.objects.filter(lead=lead, stopped_at__isnull=True).values_list(
                "kind", flat=True
            )
        ) == {ClockKind.DISPOSITION}
        assert Notification.objects.filter(lead=lead, kind="lead_rejected").get().recipient == (
            marketing
        )
    # every breach told its owner and the team's manager, with what was done
    breaches = Notification.objects.filter(kind="sla_breach")
    assert breaches.count() == 14
    assert breaches.filter(recipient=manager).count() == 7
    returned = breaches.get(lead=standard[0], recipient=manager)
    assert "Returned to marketing as a rejection: no response within SLA." in returned.body
    reassigned = breaches.get(lead=hot[0], recipient=manager)
    assert "Reassigned to " in reassigned.body


def test_a_batch_of_reassignments_keeps_the_round_robin_and_the_capacity(rep, manager):
    light, busy = UserFactory(role="Sales rep"), UserFactory(role="Sales rep")
    team = TeamFactory(reps=[rep], manager=manager)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")
    leads = [make_mql() for _ in range(5)]  # all to rep, the only member so far
    TeamMembership.objects.create(team=team, user=light)
    TeamMembership.objects.create(team=team, user=busy, max_open_leads=1)

    result = sla.sweep(MONDAY_10 + HOUR)

    assert result.reassigned == 5
    owners = [Lead.objects.get(pk=lead.pk).owner for lead in leads]
    # one after another, as the round robin goes: busy takes one and is then at
    # capacity, so light takes the rest
    assert owners.count(busy) == 1
    assert owners.count(light) == 4
    assert owners[:2] in ([light, busy], [busy, light])  # the round robin alternates


def test_a_reassignment_that_fails_holds_back_no_other_lead(rep, other_rep, manager, monkeypatch):
    team = TeamFactory(reps=[rep, other_rep], manager=manager)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")
    broken, fine = make_mql(), make_mql()
    from routing import assignment

    route_many = assignment.route_many

    def route_or_fail(*, leads, at, exclude=None):
        if any(lead.pk == broken.pk for lead in leads):
            raise RuntimeError("routing rule in a bad state")
        return route_many(leads=leads, at=at, exclude=exclude)

    monkeypatch.setattr(assignment, "route_many", route_or_fail)

    result = sla.sweep(MONDAY_10 + HOUR)

    assert (result.breached, result.reassigned, result.failed) == (2, 1, 1)
    assert Lead.objects.get(pk=broken.pk).owner == broken.owner  # untouched, and told
    assert Lead.objects.get(pk=fine.pk).owner != fine.owner
    assert Notification.objects.filter(kind="sla_breach", lead=broken).count() == 2
    assert SlaClock.objects.get(lead=broken).breached_at == MONDAY_10 + HOUR


@pytest.mark.parametrize("union_with_limits", [True, False], ids=["one query", "per part"])
def test_more_due_clocks_than_one_read_are_all_handled_once(
    rep, other_rep, manager, monkeypatch, union_with_limits
):
    # "per part": how the sweep reads on SQLite (the quick start), whose UNION takes no
    # LIMIT in its parts
    monkeypatch.setattr(
        connection.features, "supports_slicing_ordering_in_compound", union_with_limits
    )
    team = TeamFactory(reps=[rep, other_rep], manager=manager, max_open_leads=100)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, warning_percent=50)
    monkeypatch.setattr(sla, "READ_SIZE", 2)  # due clocks read at a time, per part
    late = [make_mql(when=MONDAY_10 + dt.timedelta(minutes=m)) for m in (0, 5, 10, 15, 20)]
    later = make_mql(when=MONDAY_10 + HOUR)  # due at 12:00: only its warning is due

    result = sla.sweep(MONDAY_10 + 90 * dt.timedelta(minutes=1), batch_size=3)

    assert (result.breached, result.warned) == (5, 1)
    for lead in late:
        assert SlaClock.objects.get(lead=lead, kind=ClockKind.DECISION).breached_at is not None
    assert SlaClock.objects.get(lead=later).warned_at is not None
    assert Notification.objects.filter(kind="sla_breach").count() == 5 * 2  # owner, manager
    # nothing is handled twice
    assert sla.sweep(MONDAY_10 + 90 * dt.timedelta(minutes=1)).as_dict() == (
        sla.SweepResult().as_dict()
    )


def test_a_reassignment_after_a_breach_tells_both_reps_without_reading_the_account(
    rep, other_rep, manager
):
    team = TeamFactory(reps=[rep, other_rep], manager=manager, max_open_leads=100)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")
    lead = make_mql()
    breached_by = Lead.objects.get(pk=lead.pk).owner

    with CaptureQueriesContext(connection) as captured:
        result = sla.sweep(MONDAY_10 + HOUR)

    assert result.reassigned == 1
    new_owner = Lead.objects.get(pk=lead.pk).owner
    # each rep hears of it once: the one who breached by the breach notice, which says
    # where the lead went, the new owner by the reassignment
    told = Notification.objects.filter(
        lead=lead, recipient__in=[breached_by, new_owner], created_at=MONDAY_10 + HOUR
    )
    assert sorted((n.recipient.pk, n.kind) for n in told) == sorted(
        [(breached_by.pk, "sla_breach"), (new_owner.pk, "reassigned")]
    )
    assert f"Reassigned to {new_owner.get_full_name()}." in told.get(recipient=breached_by).body
    mine = told.get(recipient=new_owner)
    assert mine.title.startswith("Reassigned: ")
    assert "A lead was reassigned to you after an SLA breach." in mine.body
    assert "did not act in time" in mine.body
    # a reassignment's notification does not show the account's other open leads, so
    # the sweep does not rank them
    assert not [q for q in captured.captured_queries if "ROW_NUMBER()" in q["sql"]]
