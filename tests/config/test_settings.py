"""Settings are read once at import, so each case runs Django in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

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
