"""Work run beside a request, in a helper thread of the same process that keeps its own
database connection: a transaction that has to wait for a lock another request holds
can wait there while the request goes on with the rest of its work.

One helper thread per process, created on first use (a forked child, such as a gunicorn
or Celery worker, starts with none and creates its own), so that its connection is
opened once and kept as long as Django keeps a request's (CONN_MAX_AGE); jobs from
several threads of one process take their turn. A job must not wait for the transaction
of the request that handed it over: that request waits for the job only after it has
committed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections, connections

T = TypeVar("T")

_guard = threading.Lock()
_helper: ThreadPoolExecutor | None = None


def _forget_the_parents() -> None:
    # in a forked child: the parent's thread is not there, and its lock may be held
    global _guard, _helper
    _guard, _helper = threading.Lock(), None


os.register_at_fork(after_in_child=_forget_the_parents)


def _run(job: Callable[..., T], args: tuple[Any, ...]) -> T:
    # as around a request: a connection that broke or outlived CONN_MAX_AGE is replaced
    close_old_connections()
    try:
        return job(*args)
    finally:
        close_old_connections()


def run_beside(job: Callable[..., T], *args: Any) -> Future[T]:
    """Start job(*args) in this process's helper thread, on its own connection; the
    future gives its result or raises its error."""
    global _helper
    with _guard:
        if _helper is None:
            _helper = ThreadPoolExecutor(1, thread_name_prefix="handoff-beside")
        executor = _helper
    return executor.submit(_run, job, args)


def stop() -> None:
    """Close the helper's connection and end its thread (a later job starts another)."""
    global _helper
    with _guard:
        helper, _helper = _helper, None
    if helper is not None:
        helper.submit(connections.close_all).result()
        helper.shutdown(wait=True)
