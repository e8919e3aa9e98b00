"""Settings are read once at import, so each case runs Django in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_secret_key_when_debug_is_off():
    result = run_manage("check", DEBUG="false")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_passes_the_deploy_check_with_the_documented_production_variables():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="Kq3w9-zP0xL7vT2mN8bY5cR1hJ6gF4dS0aE9uI3oW7qZ2xC5vB8nM1kL4jH6gF9d",
        ALLOWED_HOSTS="handoff.example.com",
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_seed_demo_refuses_when_debug_is_off():
    result = run_manage(
        "seed_demo",
        DEBUG="false",
        SECRET_KEY="Kq3w9-zP0xL7vT2mN8bY5cR1hJ6gF4dS0aE9uI3oW7qZ2xC5vB8nM1kL4jH6gF9d",
        DATABASE_URL="sqlite:////nonexistent/never-opened.sqlite3",
    )

    assert result.returncode != 0
    assert "--force" in result.stderr


def test_the_quick_starts_sqlite_database_takes_every_migration(tmp_path):
    """`make run` starts on SQLite: an index SQLite cannot build (NULLS LAST, say) would
    stop it before the first page."""
    database = f"sqlite:///{tmp_path / 'quick-start.sqlite3'}"

    migrated = run_manage("migrate", "--noinput", DEBUG="true", DATABASE_URL=database)
    plan = run_manage("showmigrations", "--plan", DEBUG="true", DATABASE_URL=database)

    assert migrated.returncode == 0, migrated.stderr[-2000:]
    assert "[ ]" not in plan.stdout and "[X]  leads." in plan.stdout


REPORT_ON_SQLITE = """
import datetime as dt, json
from leads.models import Lead
from reporting.selectors import _grouped_sets
t0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
for i, (source, hours) in enumerate([("rfq", 24), ("rfq", 48), ("rfq", 72), ("webinar", 6)]):
    Lead.objects.create(
        email=f"l{i}@example.com", source=source, entered_funnel_at=t0,
        first_mql_at=t0 + dt.timedelta(hours=hours),
    )
Lead.objects.create(email="never@example.com", source="webinar", entered_funnel_at=t0)
by_source, overall = _grouped_sets(
    Lead.objects.all(), [("source",), ()], {"leads": None},
    {"wait": ("entered_funnel_at", "first_mql_at")},
)
print(json.dumps({str(k): v for k, v in {**by_source, **overall}.items()}))
"""


def test_the_quick_starts_sqlite_database_gives_the_reports_medians(tmp_path):
    """Reports list a group's values with SQLite's json_group_array and its durations in
    microseconds, where PostgreSQL has handoff_values and intervals: the same medians."""
    database = f"sqlite:///{tmp_path / 'quick-start.sqlite3'}"
    migrated = run_manage("migrate", "--noinput", DEBUG="true", DATABASE_URL=database)
    assert migrated.returncode == 0, migrated.stderr[-2000:]

    result = run_manage("shell", "-c", REPORT_ON_SQLITE, DEBUG="true", DATABASE_URL=database)

    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    hour = 3600
    # rfq: 24, 48, 72 h: median 48 h; p90 at 1.8: 48 + 0.8 · 24 = 67.2 h
    assert rows["('rfq',)"]["wait_p50"] == pytest.approx(48 * hour)
    assert rows["('rfq',)"]["wait_p90"] == pytest.approx(67.2 * hour)
    # the webinar lead that never became an MQL is counted, not measured
    assert (rows["('webinar',)"]["leads"], rows["('webinar',)"]["wait_n"]) == (2, 1)
    # all: 6, 24, 48, 72 h: median 36 h; p90 at 2.7: 48 + 0.7 · 24 = 64.8 h
    assert rows["()"]["wait_p50"] == pytest.approx(36 * hour)
    assert rows["()"]["wait_p90"] == pytest.approx(64.8 * hour)
    assert rows["()"]["leads"] == 5
