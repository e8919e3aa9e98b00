import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group

from config.celery import app


@app.task(name="tests.create_group")
def create_group(name: str) -> None:
    Group.objects.create(name=name)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_runs_a_task_sent_through_redis_on_a_real_worker():
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        create_group.delay("Sent through Redis")

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if Group.objects.filter(name="Sent through Redis").exists():
                break
            time.sleep(0.1)

    assert Group.objects.filter(name="Sent through Redis").exists()
