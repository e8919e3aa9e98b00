"""Every report over 12 months of MQLs: no filter, one team, one source channel.

Each report is built the way its page and API build it (the filter form, the scope, the
section builder: every query and the Python that shapes the tables), as marketing ops,
who see every lead. Median of BENCH_REPORT_RUNS runs (3 by default) after one warm-up
(BENCH_REPORT_WARMUP=0: none), with the machine's load average when it was measured.
BENCH_REPORTS=funnel,sla and BENCH_REPORT_FILTERS=no_filter,one_team pick a subset.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time

from django.db import connection
from django.http import QueryDict
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.common import section

RUNS = int(os.environ.get("BENCH_REPORT_RUNS", "3"))
WARMUP = int(os.environ.get("BENCH_REPORT_WARMUP", "1"))
TARGET_S = 2.0


def _filters() -> dict[str, dict[str, str]]:
    """The filter sets measured: none, the biggest team, the channel with the most leads."""
    from django.db.models import Count

    from leads.models import Lead
    from routing.models import Assignment, TeamMembership

    today = timezone.localdate()
    period = {
        "mql_from": (today - dt.timedelta(days=364)).isoformat(),
        "mql_to": today.isoformat(),
    }
    out = {"no filter": period}
    # a lead's team is the team it was routed to, else its owner's: the team with the
    # most routed leads, else the one with the most reps
    team = (
        Assignment.objects.filter(team__isnull=False)
        .values_list("team")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    ) or (
        TeamMembership.objects.filter(active=True, team__active=True)
        .values_list("team")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    )
    if team:
        out["one team"] = {**period, "team": str(team[0])}
    source = Lead.objects.values("source").annotate(n=Count("pk")).order_by("-n").first()
    if source:
        out["one source"] = {**period, "source": source["source"]}
    wanted = [w for w in os.environ.get("BENCH_REPORT_FILTERS", "").split(",") if w]
    return {k: v for k, v in out.items() if not wanted or k.replace(" ", "_") in wanted}


def measure() -> dict:
    from django.contrib.auth import get_user_model

    from leads.roles import MARKETING_OPS
    from reporting.filters import report_filter, scope_of
    from reporting.sections import REPORTS

    wanted = [w for w in os.environ.get("BENCH_REPORTS", "").split(",") if w]
    section(f"reports: 12 months, median of {RUNS} runs after {WARMUP} warm-up")
    user = get_user_model().objects.filter(groups__name=MARKETING_OPS).order_by("pk").first()
    factory = RequestFactory()
    out: dict[str, dict] = {}
    for label, params in _filters().items():
        for slug, spec in REPORTS.items():
            if wanted and slug not in wanted:
                continue
            query = QueryDict(mutable=True)
            query.update(params)
            request = factory.get("/reports/", query)
            request.user = user
            times, queries = [], 0
            for i in range(RUNS + WARMUP):
                now = timezone.now()
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    page = spec.build(scope_of(report_filter(request, now=now), now=now), query)
                    seconds = time.perf_counter() - started
                assert page is not None, (slug, label)
                queries = len(captured.captured_queries)
                if i >= WARMUP:  # the first run warms the caches
                    times.append(seconds)
            key = f"{spec.title}, {label}"
            out[key] = {
                "median_s": round(statistics.median(times), 2),
                "max_s": round(max(times), 2),
                "queries": queries,
                "runs": len(times),
                # the machine's 1-minute load average when the report was measured
                "load_average": round(os.getloadavg()[0], 2),
            }
            print(key, out[key], flush=True)
    return out


def rows(out: dict) -> list[str]:
    return [
        f"| report {label}, 12 months ({r['queries']} queries) | {r['median_s']} s "
        f"| target {TARGET_S:g} s | {r['median_s'] / TARGET_S:.2f} |"
        for label, r in out.items()
    ]
