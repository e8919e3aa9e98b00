"""Event ingestion through the API against a plain bulk insert.

Measured twice. In this process, one batch at a time through Django's test client,
each rolled back: where a batch's time goes (its Python, its SQL). Then as production
receives events: the Procfile's gunicorn (2 workers, production settings) and senders
posting batches at once over loopback, as several marketing systems do; committed, in
a copy of the bench database that is dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import redis
from django.conf import settings
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from bench.common import BENCH_DB, section, vacuum
from bench.load import (
    _cpu_seconds,
    _exit_on_signal,
    _free_port,
    _parents,
    _production_env,
    _start,
    _stop,
    _tree,
    _wait_healthy,
)
from leads.models import EngagementEvent, Lead, StageChange
from leads.stages import OPEN_STAGES

KINDS = ["page_view", "content_download", "pricing_page_view", "webinar_registered"]
# senders posting at once: more than the web workers, so that none waits for a batch
SENDERS = int(os.environ.get("BENCH_INGEST_SENDERS", "4"))
# measured windows; the median is reported
SERVED_WINDOWS = int(os.environ.get("BENCH_INGEST_WINDOWS", "3"))
BATCHES_PER_SENDER = 4  # in each window
SERVED_REDIS_URL = os.environ.get("BENCH_INGEST_REDIS_URL", "redis://127.0.0.1:6379/11")


def measure() -> dict:
    """POST /api/v1/events/ with batches of 1,000 (scoring and automatic MQL included),
    against a plain bulk insert of the same rows in the same run. Each batch is rolled
    back afterwards, so the database stays as seeded (and the e-mails and webhooks that
    would be queued after commit are not)."""
    section("event ingestion: batches of 1,000 through the API")
    client = Client(HTTP_AUTHORIZATION=f"Token {_token()}")
    # the same 20,000 open leads and the same batches on every run of one database, so
    # that runs before and after a change compare
    rng = random.Random(7)
    pool = rng.sample(
        list(
            Lead.objects.filter(stage__in=OPEN_STAGES, archived_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        20000,
    )
    api_rates, bulk_rates, moves, queries = [], [], [], []
    cpu_ms, sql_ms = [], []  # where a batch's time goes: this process's CPU, PostgreSQL
    with override_settings(ALLOWED_HOSTS=["*"]):
        for _ in range(5):
            batch = _batch(rng, pool, "bench")
            with transaction.atomic():
                rollback = transaction.savepoint()
                changes = StageChange.objects.count()
                with CaptureQueriesContext(connection) as captured:
                    started, cpu = time.perf_counter(), time.process_time()
                    response = client.post(
                        "/api/v1/events/", batch, content_type="application/json"
                    )
                    api_rates.append(1000 / (time.perf_counter() - started))
                    cpu_ms.append(1000 * (time.process_time() - cpu))
                assert response.status_code == 200, response.content[:300]
                queries.append(len(captured))
                sql_ms.append(1000 * sum(float(q["time"]) for q in captured.captured_queries))
                moves.append(StageChange.objects.count() - changes)
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
                transaction.savepoint_rollback(rollback)
    # each rolled-back batch left thousands of dead rows (leads, events, audit, clocks)
    vacuum()
    api, bulk = statistics.median(api_rates), statistics.median(bulk_rates)
    out = {
        "api_events_per_s": round(api),
        "bulk_insert_events_per_s": round(bulk),
        "ratio_to_bulk_insert": round(api / bulk, 3),
        "stage_changes_per_batch": moves,
        "queries_per_batch": queries,
        # medians, ms per batch of 1,000: the request's Python CPU and its SQL (as timed by
        # Django), which stay comparable on a shared machine where wall time does not
        "python_cpu_ms_per_batch": round(statistics.median(cpu_ms)),
        "sql_ms_per_batch": round(statistics.median(sql_ms)),
    }
    print(out, flush=True)
    out["served"] = served(pool, bulk)
    return out


def _token() -> str:
    """The API token of the demo's marketing ops user, who may push events."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.get(username="marketing")
    return Token.objects.get_or_create(user=user)[0].key


def _batch(rng: random.Random, pool: list[int], tag: str) -> list[dict]:
    """1,000 events of the pool's leads, now, each with its own external id."""
    when = dt.datetime.now(dt.UTC).isoformat()
    return [
        {
            "lead": rng.choice(pool),
            "kind": rng.choice(KINDS),
            "occurred_at": when,
            "external_id": f"{tag}-{uuid.uuid4()}",
            "url": "https://www.example.com/products/seals",
        }
        for _ in range(1000)
    ]


def _bodies(pool: list[int], count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps(_batch(rng, pool, "bench-served")).encode() for _ in range(count)]


def _pg_cpu_seconds(database: str) -> dict[int, float]:
    """User and system CPU so far of each PostgreSQL backend connected to `database`, by
    process id (the web workers keep theirs: CONN_MAX_AGE)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
        return {pid: _cpu_seconds(pid) for (pid,) in cursor.fetchall()}


def _pg_cpu_since(before: dict[int, float], after: dict[int, float]) -> float | None:
    """The backends' CPU between two readings; None if one of them ended meanwhile (its
    CPU since the first reading is lost)."""
    if before.keys() - after.keys():
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def served(pool: list[int], bulk_per_s: float) -> dict:
    """Events per second that the production web processes take with SENDERS senders
    posting batches of 1,000 at once, committed (scoring, MQLs, routing, clocks and the
    queued e-mails included), in a throwaway copy of the bench database."""
    section(
        f"event ingestion served: gunicorn as in the Procfile, {SENDERS} senders posting "
        "batches of 1,000 at once"
    )
    # a SIGTERM (a timeout, a kill) still runs the finally below: server stopped, copy dropped
    signal.signal(signal.SIGTERM, _exit_on_signal)
    token = _token()
    name = settings.DATABASES["default"]["NAME"]
    copy = f"{name}_ingest"
    parts = urlsplit(BENCH_DB)
    copy_url = urlunsplit(parts._replace(path=f"/{copy}"))
    connections.close_all()  # a template must have no other session
    psql = ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c"]
    subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'], check=True)
    started = time.monotonic()
    subprocess.run(
        [*psql, f'CREATE DATABASE "{copy}" TEMPLATE "{name}" STRATEGY FILE_COPY'], check=True
    )
    copied = time.monotonic() - started
    port = _free_port()
    env = _production_env(port)
    # connections kept for the whole run (production's 60 s would end some within a
    # window, and with them the CPU they used)
    env.update({"DATABASE_URL": copy_url, "REDIS_URL": SERVED_REDIS_URL, "CONN_MAX_AGE": "3600"})
    windows: list[dict] = []
    errors: list[str] = []
    workers = 0
    web = _start("web", env)
    try:
        _wait_healthy(port, {"web": web})

        def post(body: bytes) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                conn.request(
                    "POST",
                    "/api/v1/events/",
                    body=body,
                    headers={
                        "Authorization": f"Token {token}",
                        "Content-Type": "application/json",
                        "X-Forwarded-Proto": "https",
                    },
                )
                response = conn.getresponse()
                return response.status, response.read()
            finally:
                conn.close()

        def at_once(bodies: list[bytes]) -> list[tuple[int, bytes]]:
            """The bodies posted by SENDERS senders at once, each its share in turn."""
            answers: list[list[tuple[int, bytes]]] = [[] for _ in range(SENDERS)]

            def send(mine: list[bytes], into: list[tuple[int, bytes]]) -> None:
                into.extend(post(body) for body in mine)

            threads = [
                threading.Thread(target=send, args=(bodies[i::SENDERS], answers[i]))
                for i in range(SENDERS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return [answer for sender in answers for answer in sender]

        # every web worker and its connection up, with a batch each (not measured)
        at_once(_bodies(pool, SENDERS, seed=100))
        workers = len(_tree(web.pid, _parents())) - 1  # gunicorn's master and its workers
        for window in range(SERVED_WINDOWS):
            bodies = _bodies(pool, SENDERS * BATCHES_PER_SENDER, seed=200 + window)
            web_cpu, pg_cpu = _cpu_seconds(web.pid), _pg_cpu_seconds(copy)
            started = time.perf_counter()
            answers = at_once(bodies)
            elapsed = time.perf_counter() - started
            web_cpu = _cpu_seconds(web.pid) - web_cpu
            pg_cpu = _pg_cpu_since(pg_cpu, _pg_cpu_seconds(copy))
            created = 0
            for status, body in answers:
                if status != 200:
                    errors.append(f"{status}: {body[:200]!r}")
                    continue
                created += json.loads(body)["created"]
            windows.append(
                {
                    "events_per_s": round(created / elapsed),
                    "seconds": round(elapsed, 2),
                    "events_created": created,
                    "web_cpu_ms_per_batch": round(1000 * web_cpu / len(bodies)),
                    "postgres_cpu_ms_per_batch": (
                        round(1000 * pg_cpu / len(bodies)) if pg_cpu is not None else None
                    ),
                    "load_average_1min": round(os.getloadavg()[0], 1),
                }
            )
            print(windows[-1], flush=True)
    finally:
        _stop(web)
        subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'], check=False)
        redis.Redis.from_url(SERVED_REDIS_URL).flushdb()  # the queued e-mails
    rates = [w["events_per_s"] for w in windows]
    out = {
        "senders": SENDERS,
        "web_workers": workers,
        "events_per_s": round(statistics.median(rates)) if rates else 0,
        "ratio_to_bulk_insert": round(statistics.median(rates) / bulk_per_s, 3) if rates else 0,
        "errors": len(errors),
        "first_errors": errors[:3],
        "windows": windows,
        "database_copy_seconds": round(copied, 1),
    }
    print(out, flush=True)
    return out


def rows(out: dict) -> list[str]:
    return [
        f"| POST /api/v1/events/, batches of 1,000 (median "
        f"{statistics.median(out.get('stage_changes_per_batch') or [0]):.0f} stage changes and "
        f"{statistics.median(out.get('queries_per_batch') or [0]):.0f} queries a batch) "
        f"| {out['api_events_per_s']} "
        f"events/s | bulk insert {out['bulk_insert_events_per_s']} events/s "
        f"| {out['ratio_to_bulk_insert']} |",
        *_served_rows(out.get("served")),
    ]


def _served_rows(served: dict | None) -> list[str]:
    if not served or not served.get("windows"):
        return []
    middle = sorted(served["windows"], key=lambda w: w["events_per_s"])[len(served["windows"]) // 2]
    web, postgres = middle["web_cpu_ms_per_batch"], middle["postgres_cpu_ms_per_batch"]
    cpu = (
        f"{web} ms of web CPU a batch, PostgreSQL's not measured"
        if postgres is None
        else f"{web} ms of web and {postgres} ms of PostgreSQL CPU a batch"
    )
    return [
        f"| the same served: gunicorn {served['web_workers']} workers, {served['senders']} "
        f"senders at once, committed ({cpu}; errors "
        f"{served['errors']}) | {served['events_per_s']} events/s | the bulk insert above "
        f"| {served['ratio_to_bulk_insert']} |"
    ]
