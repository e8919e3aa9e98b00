"""gunicorn settings for the web process (Procfile: `gunicorn config.wsgi -c config/gunicorn.py`).

Every value comes from the environment, like config/settings.py; GUNICORN_CMD_ARGS
(e.g. `--reload` in `make run`) still overrides them. Sized for the 2-core machine of
docs/benchmarks.md: one single-threaded process per core. The pages are CPU-bound
(PostgreSQL answers in a few ms): under bench/load.py, 4 threads a worker cost about 10%
more CPU per request than 1 (the GIL passed around) and gave a worse p95.
"""

from __future__ import annotations

import os


def _int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, not {value}.")
    return value


bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8000, 1)}"
workers = _int("WEB_CONCURRENCY", 2, 1)
# more than one: gthread workers (worth it only if requests come to wait on I/O)
threads = _int("WEB_THREADS", 1, 1)
worker_class = "gthread" if threads > 1 else "sync"
# A worker is replaced after this many requests (spread by the jitter so both workers do
# not restart at once): whatever a long-lived process accumulates, its memory is bounded.
max_requests = _int("WEB_MAX_REQUESTS", 2000, 0)
max_requests_jitter = _int("WEB_MAX_REQUESTS_JITTER", max(max_requests // 10, 0), 0)
timeout = _int("WEB_TIMEOUT", 30, 1)
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT", 20, 1)
keepalive = _int("WEB_KEEPALIVE", 5, 0)
# the heartbeat file on tmpfs: a worker is never stalled by a slow disk and killed for it
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None
proc_name = "handoff-web"


def post_worker_init(worker) -> None:
    """The worker has loaded the app: see config.runtime."""
    from config.runtime import settle

    settle()
