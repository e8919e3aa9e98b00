"""`make bench`: measure handoff at scale on PostgreSQL and write the figures.

    BENCH_LEADS=1000000 make bench      (default 1,000,000; BENCH_REUSE=1 keeps the data)

Writes bench/results.json and the table in docs/benchmarks.md. Each benchmark reports a
median of several runs and, where the issue asks, a ratio to a baseline measured in the
same run. Scripts that measure, not tests that time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres:///handoff_bench")
os.environ["DATABASE_URL"] = BENCH_DB

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from leads.models import Lead  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"
LEADS = int(os.environ.get("BENCH_LEADS", "1000000"))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def prepare() -> dict:
    """A database with LEADS demo leads (made once; BENCH_REUSE=1 keeps it)."""
    have = 0
    try:
        have = Lead.objects.count()
    except Exception:
        have = -1
    if os.environ.get("BENCH_REUSE") == "1" and have >= LEADS:
        print(f"reusing {have} leads in {BENCH_DB}")
        return {"seed_seconds": None}
    section(f"seeding {LEADS} leads into {BENCH_DB}")
    name = settings.DATABASES["default"]["NAME"]
    connection.close()
    subprocess.run(
        ["psql", "-q", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{name}"'], check=True
    )
    subprocess.run(["psql", "-q", "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'], check=True)
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    call_command("seed_demo", "--leads", str(LEADS), "--months", "12")
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"seed_seconds": round(seconds, 1)}


def time_pages() -> dict:
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


def time_sweep() -> dict:
    """1,000 due clocks among 100k and 1M running ones: the sweep's cost should follow
    the due clocks, not the total."""
    from django.db import transaction

    from routing import sla
    from routing.models import SlaPolicy

    section("SLA sweep: 1,000 due among N running clocks")
    policy = SlaPolicy.objects.get(priority="standard", active=True)
    now = dt.datetime.now(dt.UTC)
    out = {}
    from routing.models import SlaClock

    # leads without a running decision clock (one may run per lead and kind)
    lead_ids = list(
        Lead.objects.exclude(
            pk__in=SlaClock.objects.filter(stopped_at__isnull=True, kind="decision").values(
                "lead_id"
            )
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:1_000_000]
    )
    for total in (100_000, 1_000_000):
        if len(lead_ids) < total:
            print(f"skipped {total}: only {len(lead_ids)} leads without a running clock")
            continue
        runs = []
        for _ in range(3):
            with transaction.atomic():
                sid = transaction.savepoint()
                far = now + dt.timedelta(days=30)
                with (
                    connection.cursor() as cursor,
                    cursor.copy(
                        "COPY routing_slaclock (lead_id, kind, policy_id, target, started_at, "
                        "due_at, warn_at, stopped_by, outcome) FROM STDIN"
                    ) as copy,
                ):
                    for i, lead_id in enumerate(lead_ids[:total]):
                        due = now - dt.timedelta(minutes=5) if i % (total // 1000) == 0 else far
                        copy.write_row(
                            (
                                lead_id,
                                "decision",
                                policy.pk,
                                dt.timedelta(hours=4),
                                now - dt.timedelta(hours=5),
                                due,
                                None,
                                "",
                                "",
                            )
                        )
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE routing_slaclock")
                started = time.perf_counter()
                result = sla.sweep(now)
                runs.append(time.perf_counter() - started)
                transaction.savepoint_rollback(sid)
        out[f"{total} running"] = {
            "median_s": round(statistics.median(runs), 2),
            "breached": result.breached,
        }
        print(total, out[f"{total} running"], flush=True)
    return out


def time_ingestion() -> dict:
    """POST /api/v1/events/ with batches of 1,000 (scoring and automatic MQL included),
    against a plain bulk insert of the same rows in the same run."""
    import random
    import uuid

    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from leads.models import EngagementEvent
    from leads.stages import OPEN_STAGES

    section("event ingestion: batches of 1,000 through the API")
    ops = get_user_model().objects.get(username="marketing")
    token, _ = Token.objects.get_or_create(user=ops)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    pool = list(
        Lead.objects.filter(stage__in=OPEN_STAGES, archived_at__isnull=True)
        .order_by("?")
        .values_list("pk", flat=True)[:20000]
    )
    rng = random.Random(7)
    kinds = ["page_view", "content_download", "pricing_page_view", "webinar_registered"]
    api_rates, bulk_rates = [], []
    with override_settings(ALLOWED_HOSTS=["*"]):
        for _ in range(5):
            when = dt.datetime.now(dt.UTC).isoformat()
            batch = [
                {
                    "lead": rng.choice(pool),
                    "kind": rng.choice(kinds),
                    "occurred_at": when,
                    "external_id": f"bench-{uuid.uuid4()}",
                    "url": "https://www.example.com/products/seals",
                }
                for _ in range(1000)
            ]
            started = time.perf_counter()
            response = client.post("/api/v1/events/", batch, content_type="application/json")
            api_rates.append(1000 / (time.perf_counter() - started))
            assert response.status_code == 200, response.content[:300]
            rows = [
                EngagementEvent(
                    lead_id=item["lead"],
                    kind=item["kind"],
                    occurred_at=dt.datetime.now(dt.UTC),
                    url=item["url"],
                    external_id=item["external_id"] + "-b",
                )
                for item in batch
            ]
            started = time.perf_counter()
            EngagementEvent.objects.bulk_create(rows)
            bulk_rates.append(1000 / (time.perf_counter() - started))
    api, bulk = statistics.median(api_rates), statistics.median(bulk_rates)
    out = {
        "api_events_per_s": round(api),
        "bulk_insert_events_per_s": round(bulk),
        "ratio_to_bulk_insert": round(api / bulk, 3),
    }
    print(out, flush=True)
    return out


def write(results: dict) -> None:
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    lines = [
        f"Run of {results['date']} on {results['machine']}, "
        f"{results['leads_in_database']:,} leads in the database.",
        "",
        "| what | figure | baseline in the same run | ratio |",
        "| --- | --- | --- | --- |",
    ]
    seed = results["seed"].get("seed_seconds")
    if seed is not None:
        lines.append(f"| seed_demo --leads {results['leads']:,} | {seed} s | | |")
    base = results["pages"].get("trivial view (baseline)", {})
    for label, page in results["pages"].items():
        if label.startswith("trivial"):
            continue
        lines.append(
            f"| {label}: p95 server time, {page['queries']} queries | {page['p95_ms']} ms "
            f"| trivial view {base.get('p95_ms')} ms | {page['ratio_to_baseline']} |"
        )
    for label, sweep in results.get("sweep", {}).items():
        lines.append(f"| SLA sweep, 1,000 due among {label} | {sweep['median_s']} s | | |")
    ingestion = results.get("ingestion")
    if ingestion:
        lines.append(
            f"| POST /api/v1/events/, batches of 1,000 | {ingestion['api_events_per_s']} "
            f"events/s | bulk insert {ingestion['bulk_insert_events_per_s']} events/s "
            f"| {ingestion['ratio_to_bulk_insert']} |"
        )
    table = "\n".join(lines)
    doc = DOC.read_text() if DOC.exists() else "<!-- bench:start -->\n<!-- bench:end -->\n"
    head, _, rest = doc.partition("<!-- bench:start -->")
    _, _, tail = rest.partition("<!-- bench:end -->")
    DOC.write_text(f"{head}<!-- bench:start -->\n{table}\n<!-- bench:end -->{tail}")
    print(f"wrote {DOC.relative_to(ROOT)}")


def main() -> None:
    server = connection.cursor().connection.info.server_version
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PostgreSQL {server}",
        "date": dt.date.today().isoformat(),
        "leads": LEADS,
    }
    results["seed"] = prepare()
    results["leads_in_database"] = Lead.objects.count()
    results["pages"] = time_pages()
    results["sweep"] = time_sweep()
    results["ingestion"] = time_ingestion()
    write(results)


if __name__ == "__main__":
    main()
