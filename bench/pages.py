"""Server time of the rep's and manager's pages against a trivial view.

Measured as production runs them: DEBUG off, and no query capture while timing (Django
records and logs every query when it captures them, which costs about as much as a cheap
query). The queries are counted on one more request. Each page is requested in three
rounds of 40, the pages taking turns, so that a burst of load from other processes does
not fall on one page only; the figure is the median of the rounds' p95.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from bench.common import p95, section
from leads.models import Lead

ROUNDS = 3
REQUESTS = 40


def _timed(client: Client, path: str) -> list[float]:
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def measure() -> dict:
    from django.contrib.auth import get_user_model

    from leads.stages import Stage

    section(
        f"pages: server time per request (in-process client, DEBUG off), "
        f"{ROUNDS} rounds of {REQUESTS} requests each"
    )
    User = get_user_model()
    rep = User.objects.get(username="rep")
    manager = User.objects.get(username="manager")
    lead = Lead.objects.filter(owner=rep, stage=Stage.ACCEPTED).order_by("-pk").first() or (
        Lead.objects.filter(owner=rep).order_by("-pk").first()
    )
    cases = [
        ("trivial view (baseline)", None, "/bench/trivial/"),
        ("my queue", rep, "/queue/"),
        ("lead page", rep, f"/leads/{lead.pk}/"),
        ("manager team page", manager, "/team/"),
    ]
    clients, queries = {}, {}
    rounds: dict[str, list[list[float]]] = {label: [] for label, _, _ in cases}
    with override_settings(ROOT_URLCONF="bench.urls", ALLOWED_HOSTS=["*"], DEBUG=False):
        for label, user, path in cases:
            client = Client()
            if user:
                client.force_login(user)
            client.get(path)  # warm up
            with CaptureQueriesContext(connection) as captured:
                assert client.get(path).status_code == 200
            queries[label] = len(captured.captured_queries)
            clients[label] = client
        for _ in range(ROUNDS):
            for label, _, path in cases:
                rounds[label].append(_timed(clients[label], path))
    out = {}
    for label, _, _ in cases:
        out[label] = {
            "p95_ms": round(statistics.median(p95(times) for times in rounds[label]), 1),
            "median_ms": round(statistics.median(t for times in rounds[label] for t in times), 1),
            "p95_ms_each_round": [round(p95(times), 1) for times in rounds[label]],
            "queries": queries[label],
        }
        print(label, out[label], flush=True)
    base = out["trivial view (baseline)"]["p95_ms"] or 0.1
    for label in out:
        out[label]["ratio_to_baseline"] = round(out[label]["p95_ms"] / base, 1)
    return out


def rows(out: dict) -> list[str]:
    base = out.get("trivial view (baseline)", {})
    return [
        f"| {label}: p95 server time, {page['queries']} queries | {page['p95_ms']} ms "
        f"| trivial view {base.get('p95_ms')} ms | {page['ratio_to_baseline']} |"
        for label, page in out.items()
        if not label.startswith("trivial")
    ]
