"""Races with real threads on PostgreSQL: each thread has its own connection, as two
browser requests would."""

import threading

import pytest
from django.db import connection

from leads import services
from leads.models import Lead, StageChange
from leads.services import LeadActionRefused
from leads.stages import Stage
from tests.factories import LeadFactory


def run_at_once(*calls):
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            outcomes[index] = ("ok", call())
        except LeadActionRefused as refused:
            outcomes[index] = ("refused", refused)
        except Exception as exc:  # anything else is a bug the test must show
            outcomes[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_accept_and_reject_at_the_same_moment_one_wins_the_other_is_told_to_reload(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    # each request loaded the lead itself, both saw an MQL
    for_accept = Lead.objects.get(pk=lead.pk)
    for_reject = Lead.objects.get(pk=lead.pk)

    outcomes = run_at_once(
        lambda: services.accept(lead=for_accept, by=rep),
        lambda: services.reject(lead=for_reject, by=rep, reason="duplicate"),
    )

    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["ok", "refused"], outcomes
    refusal = next(value for kind, value in outcomes if kind == "refused")
    assert refusal.code == "stale"
    assert "Reload" in refusal.message
    changes = list(StageChange.objects.filter(lead=lead))
    assert len(changes) == 1
    assert Lead.objects.get(pk=lead.pk).stage == changes[0].to_stage


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_accept_sent_twice_at_once_is_recorded_once(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    copies = [Lead.objects.get(pk=lead.pk) for _ in range(4)]

    outcomes = run_at_once(*[lambda c=c: services.accept(lead=c, by=rep) for c in copies])

    assert [kind for kind, _ in outcomes].count("ok") == 1, outcomes
    assert {kind for kind, _ in outcomes} == {"ok", "refused"}
    assert StageChange.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_event_batches_crossing_each_others_accounts_both_land(monkeypatch):
    """Two senders post at once. Each batch holds a contact that the other batch's
    account MQL would choose: waiting for it would be a deadlock, and one sender would
    lose its whole batch. Each account still gets its one MQL."""
    import datetime as dt

    from django.utils import timezone

    from leads.models import EngagementEvent
    from qualification.models import CriteriaSet
    from tests.factories import SlaPolicyFactory, TeamFactory, UserFactory, industrial_criteria

    criteria = industrial_criteria()
    CriteriaSet.objects.filter(pk=criteria.pk).update(account_engagement_threshold=20)
    SlaPolicyFactory()
    TeamFactory(reps=[UserFactory(role="Sales rep")], is_default=True)

    def account():
        # the best-ranked contact has 10 points from before; the other none
        best = LeadFactory(
            criteria_set=criteria, stage=Stage.ENGAGED, fit_score=100, engagement_score=10
        )
        other = LeadFactory(
            criteria_set=criteria, stage=Stage.ENGAGED, account=best.account, engagement_score=0
        )
        return best, other

    (x_best, x_other), (y_best, y_other) = account(), account()
    when = timezone.now() - dt.timedelta(minutes=5)

    def events(pricing, download):
        # the pricing page (15) takes its account over 20 with the stored 10 of the other
        # contact; the download (10) does not take its own account over
        return [
            services.NewEvent(lead=pricing.pk, kind="pricing_page_view", occurred_at=when),
            services.NewEvent(lead=download.pk, kind="content_download", occurred_at=when),
        ]

    # both batches hold their leads before either looks for its account's contact
    both_locked = threading.Barrier(2)
    original = services._account_mqls

    def after_both_locked(*args, **kwargs):
        both_locked.wait(timeout=10)
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "_account_mqls", after_both_locked)

    outcomes = run_at_once(
        lambda: services.record_events(events=events(x_other, y_best)),
        lambda: services.record_events(events=events(y_other, x_best)),
    )

    assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
    assert EngagementEvent.objects.count() == 4
    for best in (x_best, y_best):
        mqls = Lead.objects.filter(account=best.account, stage=Stage.MQL)
        assert mqls.count() == 1
        assert "Account engagement 25" in mqls.get().account_mql_reason


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_does_not_keep_its_other_leads_waiting_for_one_another_request_holds():
    import datetime as dt
    import time

    from django.db import transaction
    from django.utils import timezone

    from leads.models import EngagementEvent
    from tests.factories import industrial_criteria

    criteria = industrial_criteria()
    busy, free = (LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED) for _ in range(2))
    holding, release = threading.Event(), threading.Event()

    def hold_busy():  # another request in the middle of its transaction on `busy`
        try:
            with transaction.atomic():
                Lead.objects.select_for_update().get(pk=busy.pk)
                holding.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    when = timezone.now() - dt.timedelta(minutes=5)
    sent = {}

    def send():
        try:
            sent["results"] = services.record_events(
                events=[
                    services.NewEvent(lead=busy.pk, kind="page_view", occurred_at=when),
                    services.NewEvent(lead=free.pk, kind="content_download", occurred_at=when),
                ]
            )
        finally:
            connection.close()

    holder = threading.Thread(target=hold_busy)
    holder.start()
    assert holding.wait(timeout=10)
    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while not EngagementEvent.objects.filter(lead=free).exists():
            assert time.monotonic() < deadline, "the free lead's event waited for the busy one"
            time.sleep(0.05)
        # committed while the other request still holds the busy lead, which waits its turn
        assert not EngagementEvent.objects.filter(lead=busy).exists()
        assert sender.is_alive()
    finally:
        release.set()
        holder.join(timeout=20)
        sender.join(timeout=20)

    results = sent["results"]
    assert [(r.created, r.event.lead_id) for r in results] == [(True, busy.pk), (True, free.pk)]
    assert Lead.objects.get(pk=free.pk).engagement_score == 10
    assert EngagementEvent.objects.filter(lead=busy).count() == 1
