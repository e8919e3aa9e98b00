import pytest
from django.db import connection


def pytest_configure(config):
    # The suite is the proof that handoff works on what production runs: PostgreSQL.
    if connection.vendor != "postgresql":
        raise pytest.UsageError(
            "The test suite runs on PostgreSQL. Run `make test`, or set DATABASE_URL to a "
            f"PostgreSQL server (now: {connection.vendor})."
        )


@pytest.fixture
def rep(db):
    from tests.factories import UserFactory

    return UserFactory(username="rita", role="Sales rep")


@pytest.fixture
def other_rep(db):
    from tests.factories import UserFactory

    return UserFactory(username="otto", role="Sales rep")


@pytest.fixture
def manager(db):
    from tests.factories import UserFactory

    return UserFactory(username="max", role="Sales manager")


@pytest.fixture
def marketing(db):
    from tests.factories import UserFactory

    return UserFactory(username="mia", role="Marketing ops", is_staff=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production hashing costs ~0.5 s per user; the suite creates hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
