import pytest
from django.db import connection


def pytest_configure(config):
    # The suite is the proof that handoff works on what production runs: PostgreSQL.
    if connection.vendor != "postgresql":
        raise pytest.UsageError(
            "The test suite runs on PostgreSQL. Run `make test`, or set DATABASE_URL to a "
            f"PostgreSQL server (now: {connection.vendor})."
        )


@pytest.fixture(scope="session", autouse=True)
def _own_redis_keys(worker_id):
    """Under pytest-xdist (`pytest -n 2`) each worker has its own PostgreSQL database
    (pytest-django) and here its own cache keys and Celery queue in the one Redis
    database: a worker started by one test takes only its own process's tasks, and the
    API's rate limits count only its own requests."""
    if worker_id == "master":
        yield
        return
    from django.conf import settings
    from django.test.utils import override_settings

    from config.celery import app

    caches = {
        name: {**conf, "KEY_PREFIX": f"{conf.get('KEY_PREFIX', '')}-{worker_id}"}
        for name, conf in settings.CACHES.items()
    }
    queue = f"celery-{worker_id}"
    default_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        with override_settings(CACHES=caches):
            yield
    finally:
        app.conf.task_default_queue = default_queue


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


@pytest.fixture(autouse=True)
def _unsettled_garbage_collector():
    """An in-process Celery worker (a few tests start one) settles the garbage collector
    of the process it runs in, as a pool process does (config.runtime): give the next
    test the collector of a fresh process, so that what a test leaves behind is still
    collected (a database connection held in a cycle kept the test database open)."""
    import gc

    threshold = gc.get_threshold()
    yield
    if gc.get_freeze_count() or gc.get_threshold() != threshold:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        gc.collect()


@pytest.fixture(scope="session", autouse=True)
def _helper_connection_closed(django_db_setup):
    """The helper thread of config.beside keeps its own connection to the test database:
    closed before pytest-django drops that database (set up first, so torn down after)."""
    yield
    from config import beside

    beside.stop()
