"""The web and worker processes as the Procfile starts them: gunicorn reads
config/gunicorn.py from the environment, Celery accepts the worker's options."""

import gc
import shlex
import sys
from pathlib import Path

import pytest
from celery.bin.base import CLIContext
from celery.bin.worker import worker as worker_command
from gunicorn.app.wsgiapp import WSGIApplication

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = (
    "HOST",
    "PORT",
    "WEB_CONCURRENCY",
    "WEB_THREADS",
    "WEB_MAX_REQUESTS",
    "WEB_MAX_REQUESTS_JITTER",
    "WEB_TIMEOUT",
    "GUNICORN_CMD_ARGS",
)


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name: shlex.split(command) for name, _, command in (line.partition(": ") for line in lines)
    }


def gunicorn_config(monkeypatch, **environment):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    # exactly the Procfile's command line, read by gunicorn itself
    monkeypatch.setattr(sys, "argv", procfile()["web"])
    return WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg


def test_it_runs_two_workers_that_are_replaced_after_a_while(monkeypatch):
    cfg = gunicorn_config(monkeypatch)

    assert cfg.address == [("127.0.0.1", 8000)]
    assert cfg.workers == 2
    assert cfg.worker_class_str == "sync"
    # a worker is recycled, and the two not at the same moment
    assert cfg.max_requests == 2000
    assert 0 < cfg.max_requests_jitter < cfg.max_requests


def test_it_takes_the_port_and_sizes_from_the_environment(monkeypatch):
    cfg = gunicorn_config(
        monkeypatch, HOST="0.0.0.0", PORT="9100", WEB_CONCURRENCY="4", WEB_THREADS="3"
    )

    assert cfg.address == [("0.0.0.0", 9100)]
    assert cfg.workers == 4
    assert cfg.worker_class_str == "gthread"  # threads come with the threaded worker
    assert cfg.threads == 3


def test_it_lets_gunicorn_cmd_args_override_the_file(monkeypatch):
    cfg = gunicorn_config(monkeypatch, GUNICORN_CMD_ARGS="--workers 3 --reload")

    assert cfg.workers == 3
    assert cfg.reload is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEB_CONCURRENCY", "two", "WEB_CONCURRENCY must be a whole number, not 'two'."),
        ("WEB_THREADS", "0", "WEB_THREADS must be at least 1, not 0."),
        ("PORT", "-1", "PORT must be at least 1, not -1."),
    ],
)
def test_it_refuses_a_bad_value_naming_the_variable(monkeypatch, name, value, message):
    with pytest.raises(SystemExit) as exited:
        gunicorn_config(monkeypatch, **{name: value})

    assert str(exited.value) == message


def test_it_caps_the_memory_of_each_celery_worker_child():
    command = procfile()["worker"]
    assert command[:4] == ["celery", "-A", "config", "worker"]
    # the options after "worker", with the Procfile's defaults filled in
    options = [
        arg.removeprefix("${").split(":-")[1].rstrip("}") if arg.startswith("${") else arg
        for arg in command[4:]
    ]

    context = worker_command.make_context(
        "worker", options, obj=CLIContext(app=celery_app, no_color=True, workdir=None)
    )

    assert context.params["concurrency"] == 2
    assert context.params["max_memory_per_child"] == 200_000  # KiB: a child past it is replaced


def test_a_web_worker_freezes_what_it_loaded_and_collects_less_often(monkeypatch):
    cfg = gunicorn_config(monkeypatch)
    assert gc.get_freeze_count() == 0

    cfg.post_worker_init(worker=None)  # gunicorn calls it once the worker loaded the app

    # everything loaded so far is out of the collector's way, and a batch's objects
    # are collected every 50,000 allocations rather than every 700
    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold()[0] == 50_000


def test_a_celery_pool_process_does_the_same():
    from celery.signals import worker_process_init

    worker_process_init.send(sender=None)

    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold()[0] == 50_000
