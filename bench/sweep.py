"""The SLA sweep with 1,000 due clocks among 100k and 1M running ones."""

from __future__ import annotations

import datetime as dt
import statistics
import time

from django.db import connection

from bench.common import section
from leads.models import Lead


def measure() -> dict:
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


def rows(out: dict) -> list[str]:
    return [
        f"| SLA sweep, {sweep['breached']:,} due among {label} | {sweep['median_s']} s | | |"
        for label, sweep in out.items()
    ]
