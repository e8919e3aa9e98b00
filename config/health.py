import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the message says why
        return f"error: {exc.__class__.__name__}: {exc}".strip()
    return "ok"


def _redis_status() -> str:
    # Read the URL at request time so a changed REDIS_URL is what gets checked.
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}".strip()
    finally:
        client.close()
    return "ok"


@require_GET
@never_cache
@login_not_required
def healthz(request):
    """Load balancers and uptime checks call this: 200 when the database and Redis
    answer, 503 naming the one that does not."""
    checks = {"database": _database_status(), "redis": _redis_status()}
    failing = sorted(name for name, status in checks.items() if status != "ok")
    body = {"status": "ok" if not failing else "unavailable", "checks": checks}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)
