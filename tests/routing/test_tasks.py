"""The Celery side: beat's schedule, and the sweep task on a real worker through Redis."""

import datetime as dt
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone

from config.celery import app
from leads.models import Lead
from routing import tasks
from routing.models import Assignment, Notification, SlaClock
from tests.factories import RoutingRuleFactory, SlaPolicyFactory, TeamFactory
from tests.routing.conftest import make_mql


def test_beat_runs_the_sweep_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["sla-sweep"]

    assert entry == {"task": "routing.sweep_sla", "schedule": 60.0}
    assert entry["task"] in app.tasks  # registered by autodiscovery


@pytest.mark.django_db
def test_the_sweep_task_called_as_a_function_reports_what_it_did():
    assert tasks.sweep_sla() == {
        "warned": 0,
        "breached": 0,
        "reassigned": 0,
        "returned": 0,
        "followed_up": 0,
        "failed": 0,
    }


def wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_beats_sweep_on_a_real_worker_reassigns_a_breached_mql(rep, other_rep, manager):
    RoutingRuleFactory(team=TeamFactory(reps=[rep, other_rep], manager=manager))
    SlaPolicyFactory(decision_minutes=60, breach_action="reassign")
    # became an MQL a week ago and nobody decided
    lead = make_mql(when=timezone.now() - dt.timedelta(days=7))
    assert lead.owner == rep
    app.control.purge()  # nothing left over from other tests runs on this worker

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        app.send_task("routing.sweep_sla")  # exactly what beat sends

        assert wait_for(lambda: Assignment.objects.filter(lead=lead, kind="sla").exists())
        # the new owner's e-mail went through the same worker after the sweep committed
        told = Notification.objects.filter(recipient=other_rep, kind="reassigned")
        assert wait_for(lambda: told.filter(emailed_at__isnull=False).exists())

    assert Lead.objects.get(pk=lead.pk).owner == other_rep
    assert SlaClock.objects.filter(lead=lead, breached_at__isnull=False).count() == 1
