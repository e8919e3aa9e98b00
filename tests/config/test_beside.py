"""config.beside: work run beside a request, on a connection of its own."""

import os
import time

import pytest
from django.db import connection

from config import beside


def _backend_pid() -> int:
    # `connection` is the calling thread's own: the helper's, in a job
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _connected(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


def _gone(pid: int) -> bool:
    """The server process of a closed connection ends a moment after the client's close."""
    deadline = time.monotonic() + 5
    while _connected(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.django_db
def test_a_job_runs_on_a_connection_of_its_own_kept_for_the_next_one():
    first = beside.run_beside(_backend_pid).result(timeout=10)
    second = beside.run_beside(_backend_pid).result(timeout=10)

    assert first != _backend_pid()
    assert second == first  # not a new server process for every job
    assert _connected(first)


@pytest.mark.django_db
def test_a_jobs_error_is_raised_where_its_result_is_asked_for():
    def fails():
        raise ValueError("no such lead")

    future = beside.run_beside(fails)

    with pytest.raises(ValueError, match="no such lead"):
        future.result(timeout=10)
    assert beside.run_beside(lambda: 42).result(timeout=10) == 42  # the helper goes on


@pytest.mark.django_db
def test_stopping_closes_the_helpers_connection_and_a_later_job_opens_another():
    before = beside.run_beside(_backend_pid).result(timeout=10)

    beside.stop()

    assert _gone(before)
    after = beside.run_beside(_backend_pid).result(timeout=10)
    assert after != before


@pytest.mark.django_db
def test_a_forked_process_gets_a_helper_of_its_own():
    """gunicorn and Celery fork their workers: a child must not hand its jobs to the
    parent's helper thread, which the child does not have."""
    assert beside.run_beside(lambda: "parent").result(timeout=10) == "parent"
    child = os.fork()
    if child == 0:  # the child: no database, no pytest, just the helper
        try:
            answer = beside.run_beside(lambda: os.getpid()).result(timeout=5)
            os._exit(0 if answer == os.getpid() else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
