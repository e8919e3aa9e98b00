"""`make bench`: measure handoff at scale on PostgreSQL and write the figures.

    make bench                       (1,000,000 leads; BENCH_REUSE=1 keeps the data)
    BENCH_ONLY=pages,sweep make bench   (some benchmarks; the others keep their last figures)

Each benchmark is a module in bench/ with `measure() -> dict` and `rows(result) -> list`
(lines of the table). This script seeds the database when needed, runs them, writes
bench/results.json and replaces the table in docs/benchmarks.md. Scripts that measure,
not tests that time.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from bench.common import BENCH_DB, ROOT, section
from leads.models import Lead

RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"
LEADS = int(os.environ.get("BENCH_LEADS", "1000000"))
# In the order they run and appear in the table. The yardstick (the machine's own speed)
# runs first in every run, whichever benchmarks BENCH_ONLY picks.
BENCHMARKS = ["yardstick", "pages", "sweep", "ingest", "reports", "load"]


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
    # What autovacuum does to a loaded database in production (this server may run
    # without it): statistics, and the visibility map that lets counts read an index only.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return {"seed_seconds": round(seconds, 1)}


def warm() -> dict:
    """Read every table and index of the bench database once, so that the benchmarks
    measure a server whose data is in memory, as a production server's working set is
    (the 2.5 GB of a million leads fit in this machine's memory many times over). After
    seeding, part of the data had left the operating system's cache: the first batch of
    events to touch it read the leads' histories from disk, at about 2 ms a page (one
    read of 975 leads' events took 0.3 to 4.2 s cold, 13 to 20 ms warm). pg_prewarm
    (PostgreSQL's contrib) reads them into the operating system's cache; without it the
    run goes on cold, and says so."""
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            cursor.execute(
                """
                SELECT coalesce(sum(pg_prewarm(c.oid::regclass, 'read')), 0)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 't')
                """
            )
            pages = cursor.fetchone()[0]
    except Exception as error:  # no contrib package, or no right to create the extension
        print(f"could not warm the database ({error}); measuring it as it is", flush=True)
        return {"warmed_mb": None}
    megabytes = round(pages * 8192 / 2**20)
    seconds = round(time.monotonic() - started, 1)
    print(f"read {megabytes:,} MB of tables and indexes in {seconds} s", flush=True)
    return {"warmed_mb": megabytes, "warm_seconds": seconds}


def quiesce() -> None:
    """Write out what the previous step left in PostgreSQL's buffers (CHECKPOINT waits
    for it), so that a benchmark does not pay for the one before it: the sweep and
    ingestion vacuum what they rolled back, and the checkpoints that followed spent 25
    to 40 s writing while the next benchmark ran (the load test's p95 rose from 126 ms
    to 1,088 ms in one such run). Without the right to (PostgreSQL 15: a superuser),
    nothing is done."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except Exception as error:
        print(f"could not checkpoint ({error}); going on", flush=True)


def write(results: dict) -> None:
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    lines = [
        f"Run of {results['date']} on {results['machine']}, "
        f"{results['leads_in_database']:,} leads in the database"
        + (
            f" (its {warmed:,} MB of tables and indexes read into memory first)."
            if (warmed := results.get("warm", {}).get("warmed_mb"))
            else " (not warmed: read from disk where the cache lacks it)."
        ),
        "",
        "| what | figure | baseline in the same run | ratio |",
        "| --- | --- | --- | --- |",
    ]
    seed = results.get("seed", {}).get("seed_seconds")
    if seed is not None:
        lines.append(f"| seed_demo --leads {results['leads']:,} | {seed} s | | |")
    for name in BENCHMARKS:
        if results.get(name):
            lines.extend(importlib.import_module(f"bench.{name}").rows(results[name]))
    table = "\n".join(lines)
    doc = DOC.read_text() if DOC.exists() else "<!-- bench:start -->\n<!-- bench:end -->\n"
    head, _, rest = doc.partition("<!-- bench:start -->")
    _, _, tail = rest.partition("<!-- bench:end -->")
    DOC.write_text(f"{head}<!-- bench:start -->\n{table}\n<!-- bench:end -->{tail}")
    print(f"wrote {DOC.relative_to(ROOT)}")


def main() -> None:
    picked = [n for n in os.environ.get("BENCH_ONLY", "").split(",") if n]
    only = ["yardstick", *picked] if picked else BENCHMARKS
    unknown = set(only) - set(BENCHMARKS)
    if unknown:
        sys.exit(f"BENCH_ONLY: unknown {', '.join(sorted(unknown))}; known: {BENCHMARKS}")
    earlier = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # the other benchmarks' figures are kept; what no benchmark writes any more is not
    results = {key: value for key, value in earlier.items() if key in BENCHMARKS}
    results["seed"] = prepare()  # first: it creates the database when there is none
    server = connection.cursor().connection.info.server_version
    results.update(
        {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, PostgreSQL {server}",
            "date": dt.date.today().isoformat(),
            "leads": LEADS,
        }
    )
    results["leads_in_database"] = Lead.objects.count()
    section("warming the database")
    results["warm"] = warm()
    for name in BENCHMARKS:
        module_path = ROOT / "bench" / f"{name}.py"
        if name in only and module_path.exists():
            quiesce()
            results[name] = importlib.import_module(f"bench.{name}").measure()
            write(results)  # a long run keeps what it measured so far
    write(results)


if __name__ == "__main__":
    main()
