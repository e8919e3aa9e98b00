import pytest
from django.db import connection


def pytest_configure(config):
    # The suite is the proof that handoff works on what production runs: PostgreSQL.
    if connection.vendor != "postgresql":
        raise pytest.UsageError(
            "The test suite runs on PostgreSQL. Run `make test`, or set DATABASE_URL to a "
            f"PostgreSQL server (now: {connection.vendor})."
        )
