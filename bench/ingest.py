"""Event ingestion through the API against a plain bulk insert."""

from __future__ import annotations

import datetime as dt
import statistics
import time

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from bench.common import section, vacuum
from leads.models import Lead, StageChange


def measure() -> dict:
    """POST /api/v1/events/ with batches of 1,000 (scoring and automatic MQL included),
    against a plain bulk insert of the same rows in the same run. Each batch is rolled
    back afterwards, so the database stays as seeded (and the e-mails and webhooks that
    would be queued after commit are not)."""
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
    kinds = ["page_view", "content_download", "pricing_page_view", "webinar_registered"]
    api_rates, bulk_rates, moves, queries = [], [], [], []
    cpu_ms, sql_ms = [], []  # where a batch's time goes: this process's CPU, PostgreSQL
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
    return out


def rows(out: dict) -> list[str]:
    return [
        f"| POST /api/v1/events/, batches of 1,000 (median "
        f"{statistics.median(out.get('stage_changes_per_batch') or [0]):.0f} stage changes and "
        f"{statistics.median(out.get('queries_per_batch') or [0]):.0f} queries a batch) "
        f"| {out['api_events_per_s']} "
        f"events/s | bulk insert {out['bulk_insert_events_per_s']} events/s "
        f"| {out['ratio_to_bulk_insert']} |"
    ]
