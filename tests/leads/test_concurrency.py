"""Races with real threads on PostgreSQL: each thread has its own connection, as two
browser requests would."""

import contextlib
import threading
import time

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


def _hold(lead_pk, holding, release, also):
    from django.db import transaction

    try:
        with transaction.atomic():
            Lead.objects.select_for_update().get(pk=lead_pk)
            if also is not None:
                also()
            holding.set()
            release.wait(timeout=20)
    finally:
        connection.close()


@contextlib.contextmanager
def _held(lead, also=None):
    """Another request in the middle of its transaction on `lead` (with `also`, having
    written something of its own there first), until the block ends or it is told to
    let go (the event yielded)."""
    holding, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(lead.pk, holding, release, also))
    holder.start()
    assert holding.wait(timeout=10)
    try:
        yield release
    finally:
        release.set()
        holder.join(timeout=20)


def _sending(events, *, rolled_back=False):
    """record_events as another request sends them, in a thread of its own; its results
    (and, `rolled_back` inside a transaction of its own, what that transaction saw of
    its events before rolling back) land in the dict returned."""
    from django.db import transaction

    from leads.models import EngagementEvent

    sent = {}

    def send():
        try:
            if not rolled_back:
                sent["results"] = services.record_events(events=events)
                return
            with transaction.atomic():
                sent["results"] = services.record_events(events=events)
                leads = {item.lead for item in events}
                sent["seen"] = EngagementEvent.objects.filter(lead__in=leads).count()
                transaction.set_rollback(True)
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    return sender, sent


def _until(condition, failure):
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


def _waiting_for_locks():
    """How many other connections wait for a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _when():
    import datetime as dt

    from django.utils import timezone

    return timezone.now() - dt.timedelta(minutes=5)


def _event(lead, kind, **more):
    return services.NewEvent(lead=lead.pk, kind=kind, occurred_at=_when(), **more)


def _engaged_leads(count):
    from tests.factories import industrial_criteria

    criteria = industrial_criteria()
    return [LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED) for _ in range(count)]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_does_not_keep_its_other_leads_waiting_for_one_another_request_holds():
    from leads.models import EngagementEvent

    busy, free = _engaged_leads(2)
    with _held(busy):
        sender, sent = _sending([_event(busy, "page_view"), _event(free, "content_download")])
        _until(
            lambda: EngagementEvent.objects.filter(lead=free).exists(),
            "the free lead's event waited for the busy one",
        )
        # committed while the other request still holds the busy lead, which waits its turn
        assert not EngagementEvent.objects.filter(lead=busy).exists()
        assert sender.is_alive()
    sender.join(timeout=20)

    results = sent["results"]
    assert [(r.created, r.event.lead_id) for r in results] == [(True, busy.pk), (True, free.pk)]
    assert Lead.objects.get(pk=free.pk).engagement_score == 10  # a download
    assert EngagementEvent.objects.filter(lead=busy).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lead_another_request_holds_is_taken_beside_the_batch_not_after_it(monkeypatch):
    """The busy lead's events are stored and scored as soon as the other request lets
    go of it, while the rest of the batch is still being worked on."""
    from leads.models import EngagementEvent

    busy, free = _engaged_leads(2)
    rest_started, rest_may_finish = threading.Event(), threading.Event()
    original = services._advance

    def slow_for_the_free_lead(leads, *args, **kwargs):
        if any(lead.pk == free.pk for lead in leads):
            rest_started.set()
            rest_may_finish.wait(timeout=20)
        return original(leads, *args, **kwargs)

    monkeypatch.setattr(services, "_advance", slow_for_the_free_lead)
    try:
        with _held(busy) as release:
            sender, sent = _sending([_event(busy, "content_download"), _event(free, "page_view")])
            assert rest_started.wait(timeout=10)
            release.set()  # the other request commits; the batch is still on its other lead
            _until(
                lambda: EngagementEvent.objects.filter(lead=busy).exists(),
                "the busy lead waited for the rest of the batch",
            )
            assert Lead.objects.get(pk=busy.pk).engagement_score == 10  # a download
            assert not EngagementEvent.objects.filter(lead=free).exists()
            assert sender.is_alive()  # the request answers once both are done
    finally:
        rest_may_finish.set()
    sender.join(timeout=20)

    results = sent["results"]
    assert [(r.created, r.event.lead_id) for r in results] == [(True, busy.pk), (True, free.pk)]
    assert [r.lead.pk for r in results] == [busy.pk, free.pk]
    assert Lead.objects.get(pk=free.pk).engagement_score == 2  # a page view
    assert EngagementEvent.objects.filter(lead__in=[busy, free]).count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_whose_every_lead_is_held_waits_for_them_and_takes_them():
    from leads.models import EngagementEvent
    from tests.factories import industrial_criteria

    busy = LeadFactory(criteria_set=industrial_criteria(), stage=Stage.NEW)
    with _held(busy):
        sender, sent = _sending([_event(busy, "page_view"), _event(busy, "content_download")])
        sender.join(timeout=0.5)
        assert sender.is_alive()  # waits for the other request
        assert not EngagementEvent.objects.filter(lead=busy).exists()
    sender.join(timeout=20)

    assert [r.created for r in sent["results"]] == [True, True]
    lead = Lead.objects.get(pk=busy.pk)
    # new -> engaged on its first events, scored for both (a page view 2, a download 10)
    assert (lead.stage, lead.engagement_score) == (Stage.ENGAGED, 12)
    assert EngagementEvent.objects.filter(lead=busy).count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_inside_a_callers_transaction_a_held_lead_is_waited_for_in_that_transaction():
    """Nothing is committed beside a caller's transaction: rolled back, it leaves no
    event, not even the held lead's."""
    from leads.models import EngagementEvent

    busy, free = _engaged_leads(2)
    with _held(busy):
        sender, sent = _sending(
            [_event(busy, "page_view"), _event(free, "page_view")], rolled_back=True
        )
        sender.join(timeout=0.5)
        assert sender.is_alive()  # waits for the held lead, in its own transaction
    sender.join(timeout=20)

    assert [r.created for r in sent["results"]] == [True, True]
    assert sent["seen"] == 2
    assert not EngagementEvent.objects.filter(lead__in=[busy, free]).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_repeat_racing_in_while_a_lead_is_held_leaves_every_event_stored_once():
    """Another request holds one lead of the batch and is storing an event with the
    same external id as another of the batch's events. The batch's transaction fails on
    that id and takes its own events one by one; the held lead's event, taken beside it,
    is not taken a second time."""
    from leads.models import EngagementEvent

    busy, free, elsewhere = _engaged_leads(3)

    def store_the_repeat():
        EngagementEvent.objects.create(
            lead=elsewhere, kind="page_view", occurred_at=_when(), external_id="crm-42"
        )

    with _held(busy, also=store_the_repeat):
        sender, sent = _sending(
            [_event(busy, "content_download"), _event(free, "page_view", external_id="crm-42")]
        )
        # the busy lead's transaction waits for its lock, the batch's for the repeat's id
        _until(lambda: _waiting_for_locks() >= 2, "the batch never met the repeat")
    sender.join(timeout=20)

    busy_result, repeat = sent["results"]
    assert (busy_result.created, busy_result.event.lead_id) == (True, busy.pk)
    assert (repeat.created, repeat.event.lead_id) == (False, elsewhere.pk)
    assert EngagementEvent.objects.filter(lead=busy).count() == 1
    assert not EngagementEvent.objects.filter(lead=free).exists()
    assert EngagementEvent.objects.filter(external_id="crm-42").count() == 1
