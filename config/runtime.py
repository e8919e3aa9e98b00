"""What a long-running handoff process does once the app is loaded (gunicorn's web
workers and Celery's pool processes both call `settle`).

Python's cyclic garbage collector runs a young-generation pass every 700 new container
objects and, every hundred of those, a full pass over every object the process holds.
A batch of 1,000 events builds a few hundred thousand objects (model rows, score lines,
notifications) that live until the request ends, so the collector ran about 150 times
and made one or two full passes a batch, each walking Django, the app and the batch
itself: 200 to 400 ms of a 2 s batch on the benchmark machine, for garbage that
reference counting frees anyway (docs/benchmarks.md). Settled, a batch collects once.
"""

from __future__ import annotations

import gc

# young-generation threshold: container objects allocated between two collections
GC_THRESHOLD = 50_000


def settle() -> None:
    """Everything loaded at startup (Django, the app's modules, URL patterns, templates)
    lives as long as the process: freeze it, so that no collection walks it again, and
    collect the young generation every GC_THRESHOLD objects instead of 700 (a cycle left
    behind waits a little longer; memory stays bounded by the workers' recycling)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, older, oldest)
