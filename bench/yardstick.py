"""How fast the machine is, measured first in every run, so that figures from runs on
different machines (or one machine on a busy day) can be read against each other: the
same work every time, independent of the database's contents.

- Python: the app's own scoring (qualification.scoring) of 2,000 leads with 5 events
  each against a fixed set of nine rules of the demo's kinds (written here, so that
  editing the demo's criteria does not move the yardstick), the kind of work a batch of
  events does;
- PostgreSQL: the median and 90th percentile of a million generated values, the kind of
  work the reports do.

Median of 5 of each, in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from django.db import connection

from bench.common import section
from qualification import scoring

RUNS = 5
SORT_SQL = (
    "SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY (g::bigint * 7919) % 1000003) "
    "FROM generate_series(1, 1000000) AS g"
)


def _rules() -> tuple:
    return (
        scoring.FitRule("Target industry", "industry", "in", ["Machinery", "Packaging"], 25),
        scoring.FitRule("Served country", "country", "in", ["DE", "AT", "CH"], 10, True),
        scoring.FitRule("Mid-size or larger", "employee_count", "range", [200, None], 20),
        scoring.FitRule("Engineer or buyer", "role_category", "in", ["engineering"], 15),
        scoring.FitRule("Free-mail address", "free_mail", "equals", True, -20),
        scoring.EngagementRule("Pricing page", "pricing_page_view", 10, max_points=30),
        scoring.EngagementRule("Product pages", "page_view", 2, max_points=10),
        scoring.EngagementRule("Downloads", "content_download", 8, max_points=24),
        scoring.EngagementRule("Webinars", "webinar_registered", 6, max_points=12),
    )


def _python_ms() -> float:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    kinds = ["page_view", "content_download", "pricing_page_view", "webinar_registered"]
    leads = [
        (
            {
                "industry": ["Machinery", "Retail"][i % 2],
                "country": ["DE", "US", "AT"][i % 3],
                "employee_count": 50 + i,
                "role_category": "engineering",
                "free_mail": i % 13 == 0,
            },
            [
                scoring.Event(kinds[(i + j) % 4], now - dt.timedelta(days=i % 40 + j))
                for j in range(5)
            ],
        )
        for i in range(2000)
    ]
    rules = _rules()
    started = time.perf_counter()
    for facts, events in leads:
        scoring.score(facts, events, rules, now=now, half_life_days=30)
    return 1000 * (time.perf_counter() - started)


def _postgres_ms() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        started = time.perf_counter()
        cursor.execute(SORT_SQL)
        cursor.fetchall()
        elapsed = 1000 * (time.perf_counter() - started)
        cursor.execute("RESET jit")
    return elapsed


def measure() -> dict:
    section("machine yardstick")
    python = [_python_ms() for _ in range(RUNS)]
    postgres = [_postgres_ms() for _ in range(RUNS)]
    out = {
        "python_scoring_ms": round(statistics.median(python), 1),
        "postgres_percentiles_ms": round(statistics.median(postgres), 1),
    }
    print(out, flush=True)
    return out


def rows(out: dict) -> list[str]:
    return [
        f"| machine yardstick: Python (scoring 2,000 leads) / PostgreSQL (percentiles of "
        f"1,000,000 values) | {out['python_scoring_ms']} / {out['postgres_percentiles_ms']} ms "
        "| | |"
    ]
