"""What every benchmark module shares: Django set up on the bench database, p95."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres:///handoff_bench")
os.environ["DATABASE_URL"] = BENCH_DB

import django  # noqa: E402

django.setup()

from config.runtime import settle  # noqa: E402

# measured as a web or Celery worker runs once it has loaded the app
settle()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


# What a benchmark's rolled-back writes touch: leads, their history, clocks, routing.
WRITTEN_TABLES = (
    "leads_lead",
    "leads_engagementevent",
    "leads_stagechange",
    "routing_slaclock",
    "routing_assignment",
    "routing_notification",
)


def vacuum(tables: tuple[str, ...] = WRITTEN_TABLES) -> None:
    """Clear the row versions a rolled-back benchmark leaves behind. Without autovacuum
    (this server may run without it) they pile up run after run and every later
    measurement reads through them. Outside a transaction only, as VACUUM must run."""
    from django.db import connection

    if connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM {table}")
