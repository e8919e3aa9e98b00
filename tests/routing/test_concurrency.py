"""Races with real threads on PostgreSQL, each thread on its own connection: assignments
into one team at the same moment, and several sweeps on the same clocks."""

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection

from leads import services
from leads.models import Lead
from leads.stages import Stage
from routing import sla
from routing.models import Assignment, Notification, SlaClock
from tests.factories import (
    LeadFactory,
    RoutingRuleFactory,
    SlaPolicyFactory,
    TeamFactory,
    UserFactory,
)
from tests.routing.conftest import MONDAY_10, make_mql, ready_lead

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def run_at_once(*calls):
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            outcomes[index] = ("ok", call())
        except Exception as exc:  # the test shows it
            outcomes[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def qualify_all_at_once(leads):
    outcomes = run_at_once(
        *[lambda lead=lead: services.qualify_mql(lead=lead, at=MONDAY_10) for lead in leads]
    )
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    owners = Lead.objects.filter(pk__in=[x.pk for x in leads]).values_list("owner", flat=True)
    return Counter(owners)


def test_it_spreads_20_simultaneous_mqls_exactly_by_weight(queued_emails):
    light, heavy, also_heavy = (UserFactory(role="Sales rep") for _ in range(3))
    RoutingRuleFactory(team=TeamFactory(reps=[light, (heavy, 2), (also_heavy, 2)]))
    leads = [ready_lead() for _ in range(20)]

    owners = qualify_all_at_once(leads)

    assert owners == {light.pk: 4, heavy.pk: 8, also_heavy.pk: 8}
    assert Assignment.objects.filter(kind="rule").count() == 20
    assert len(queued_emails) == 20  # one new-MQL e-mail each, queued after commit


def test_simultaneous_mqls_never_push_a_rep_past_capacity(queued_emails):
    reps = [UserFactory(role="Sales rep") for _ in range(3)]
    team = TeamFactory(reps=reps, max_open_leads=4)
    RoutingRuleFactory(team=team)
    leads = [ready_lead() for _ in range(20)]

    owners = qualify_all_at_once(leads)

    assert owners == {reps[0].pk: 4, reps[1].pk: 4, reps[2].pk: 4, team.manager_id: 8}
    assert Assignment.objects.filter(kind="manager").count() == 8


def test_four_sweeps_at_once_escalate_each_breach_exactly_once(queued_emails):
    reps = [UserFactory(role="Sales rep") for _ in range(3)]
    team = TeamFactory(reps=reps)
    RoutingRuleFactory(team=team)
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")
    leads = [make_mql() for _ in range(12)]
    now = MONDAY_10 + dt.timedelta(hours=1)

    outcomes = run_at_once(*[lambda: sla.sweep(now, batch_size=2) for _ in range(4)])

    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    assert sum(result.breached for _, result in outcomes) == 12
    assert sum(result.reassigned for _, result in outcomes) == 12
    assert SlaClock.objects.filter(breached_at__isnull=False).count() == 12
    assert Assignment.objects.filter(kind="sla").count() == 12
    # owner and manager, once per breach
    assert Notification.objects.filter(kind="sla_breach").count() == 24
    for lead in leads:
        lead.refresh_from_db()
        assert lead.stage == Stage.MQL
        assert SlaClock.objects.filter(lead=lead, stopped_at__isnull=True).count() == 1


def test_a_commit_that_names_a_team_does_not_wait_for_routing_into_it():
    """Routing locks its teams until it commits. A transaction that only refers to one
    (a lead routed there, as another batch's routing writes) checks that reference when
    it commits; had it to wait for the routing, which may itself wait for this one's
    team, PostgreSQL would end one of them as a deadlock."""
    from django.db import transaction

    from routing import assignment

    team = TeamFactory(reps=[UserFactory(role="Sales rep")])
    lead = LeadFactory(stage=Stage.NEW)
    routing, done = threading.Event(), threading.Event()

    def route_and_hold():
        try:
            with transaction.atomic():
                assignment.pick_member(team, MONDAY_10.date())
                routing.set()
                done.wait(timeout=20)
        finally:
            connection.close()

    router = threading.Thread(target=route_and_hold)
    router.start()
    try:
        assert routing.wait(timeout=10)
        with transaction.atomic():
            connection.cursor().execute("SET LOCAL lock_timeout = '3s'")
            Lead.objects.filter(pk=lead.pk).update(routed_team=team)
        assert router.is_alive()  # the routing is still under way
    finally:
        done.set()
        router.join(timeout=20)
    assert Lead.objects.get(pk=lead.pk).routed_team == team
