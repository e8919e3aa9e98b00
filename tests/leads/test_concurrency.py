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
