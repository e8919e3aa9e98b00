"""Server time of the rep's and manager's pages against a trivial view."""

from __future__ import annotations

import statistics
import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from bench.common import p95, section
from leads.models import Lead


def measure() -> dict:
    from django.contrib.auth import get_user_model

    from leads.stages import Stage

    section("pages: server time per request (in-process client), 40 requests each")
    User = get_user_model()
    rep = User.objects.get(username="rep")
    manager = User.objects.get(username="manager")
    lead = Lead.objects.filter(owner=rep, stage=Stage.ACCEPTED).order_by("-pk").first() or (
        Lead.objects.filter(owner=rep).order_by("-pk").first()
    )
    out = {}
    with override_settings(ROOT_URLCONF="bench.urls", ALLOWED_HOSTS=["*"]):
        cases = [
            ("trivial view (baseline)", None, "/bench/trivial/"),
            ("my queue", rep, "/queue/"),
            ("lead page", rep, f"/leads/{lead.pk}/"),
            ("manager team page", manager, "/team/"),
        ]
        for label, user, path in cases:
            client = Client()
            if user:
                client.force_login(user)
            client.get(path)  # warm up
            times, queries = [], 0
            for _ in range(40):
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code)
                queries = len(captured.captured_queries)
            out[label] = {
                "p95_ms": round(p95(times), 1),
                "median_ms": round(statistics.median(times), 1),
                "queries": queries,
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
