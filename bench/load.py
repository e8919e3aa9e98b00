"""50 simulated reps for 60 s against the production processes, with their memory.

The processes are the Procfile's `web` (gunicorn, 2 workers) and `worker` (Celery),
started with production settings (DEBUG off, a random SECRET_KEY, whitenoise serving
collected static files) against the bench database and Redis db 10. Every simulated rep
signs in once through the login form as its own user, then loops with 1-3 s of think
time over what reps do: open My queue, open a lead from it, and now and then accept an
MQL or log a touch through the page's own forms (CSRF token included). A few managers
open the team page. The requests go over loopback with `X-Forwarded-Proto: https`, as
from the TLS proxy in front of production, so the secure-cookie and CSRF-origin rules
apply as they do there.

Each stage change also goes out as a webhook to a local receiver, so the Celery worker
does the work an installation with a CRM subscription gives it. Every row the run
changes is put back afterwards: the leads the reps may act on (their queue's first
rows) are snapshotted with their clocks, touches, audit rows and notifications, and
restored; the subscription, its deliveries and the sessions are deleted.

The measured window opens once everyone has signed in (a sign-in hashes a password:
about a second of CPU each, reported apart). Latency is measured by the load generator
(a thread per simulated person, a new connection per request as from nginx): request to
full response on loopback. RSS is VmRSS from /proc, sampled every 0.5 s; the web
processes' CPU over the window, divided by the requests served, is what a request costs
whatever else the machine runs. `python bench/load.py restore` puts back the data of a
run that was killed before it could.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookies
import os
import pickle
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

if not __package__:  # run as a script: python bench/load.py restore
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DB, ROOT, p95, section

REPS = int(os.environ.get("BENCH_LOAD_REPS", "50"))
MANAGERS = int(os.environ.get("BENCH_LOAD_MANAGERS", "3"))
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
THINK = (1.0, 3.0)  # seconds between a person's requests
ACT_SHARE = float(os.environ.get("BENCH_LOAD_ACT_SHARE", "0.3"))  # lead pages acted on
MQL_SHARE = 0.4  # of queue views, the share filtered to MQLs
LOGIN_RAMP = float(os.environ.get("BENCH_LOAD_RAMP", "20"))  # sign-ins before the window
POOL_PER_REP = 60  # first rows of each rep's queue the rep may act on (snapshotted)
REDIS_URL = os.environ.get("BENCH_LOAD_REDIS_URL", "redis://127.0.0.1:6379/10")
PASSWORD = "handoff-demo"
LOG_DIR = ROOT / "var" / "load"
PENDING = LOG_DIR / "restore.pickle"  # what a run changed, until it is put back

LEAD_LINK = re.compile(r'href="/leads/(\d+)/"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SEEN_STAGE = re.compile(r'name="seen_stage" value="([^"]+)"')
STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)"')


# --- the people ------------------------------------------------------------------------


def _people() -> tuple[list[Any], Any]:
    """REPS sales reps who can sign in (the bulk demo's reps get the demo password) and
    the demo manager. Reps missing are added as the bulk demo adds them: in the rep
    group and a member of a team, so routing gives them leads. Idempotent."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from leads.roles import SALES_REP
    from routing.models import Team, TeamMembership

    User = get_user_model()
    group = Group.objects.get(name=SALES_REP)
    reps = list(User.objects.filter(groups=group, is_active=True).order_by("pk")[:REPS])
    team = Team.objects.filter(is_default=True).first() or Team.objects.order_by("pk").first()
    for i in range(len(reps), REPS):
        user, _ = User.objects.get_or_create(
            username=f"rep{i:03d}", defaults={"first_name": "Rep", "last_name": f"{i:03d}"}
        )
        user.groups.add(group)
        TeamMembership.objects.get_or_create(team=team, user=user, defaults={"weight": 1})
        reps.append(user)
    for user in reps:
        if not user.password or not user.has_usable_password():  # the bulk demo's: empty
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
    return reps, User.objects.get(username="manager")


def _pools(reps: list[Any]) -> dict[str, set[int]]:
    """Per rep, the leads it may act on: the first rows of its queue, and of its queue
    filtered to the MQLs waiting for a decision."""
    from leads.selectors import lead_queue_for
    from leads.stages import Stage

    pools = {}
    for rep in reps:
        queue = lead_queue_for(rep)
        first = queue.values_list("pk", flat=True)[:POOL_PER_REP]
        mqls = queue.filter(stage=Stage.MQL).values_list("pk", flat=True)[:POOL_PER_REP]
        pools[rep.username] = {*first, *mqls}
    return pools


# --- putting the data back ---------------------------------------------------------------


def _tracked_models() -> list[type]:
    from leads.models import StageChange, Touch
    from qualification.models import ChecklistAnswer
    from routing.models import Assignment, Notification, SlaClock

    # deleted in this order (nothing refers to these rows but the lead)
    return [Notification, SlaClock, Touch, ChecklistAnswer, Assignment, StageChange]


@dataclass
class Snapshot:
    leads: set[int]
    rows: dict[type, dict[int, dict[str, Any]]] = field(default_factory=dict)
    last_login: dict[int, Any] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    subscription_id: int | None = None

    def save(self) -> None:
        """On disk until restored: a run killed half-way is put back by the next run or
        by `python bench/load.py restore`."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        PENDING.write_bytes(pickle.dumps(self))


def restore_pending() -> dict[str, int] | None:
    if not PENDING.exists():
        return None
    snap = pickle.loads(PENDING.read_bytes())
    print(f"putting back the {len(snap.leads)} leads of an interrupted load run", flush=True)
    return _restore(snap)


def _snapshot(leads: set[int], users: list[Any]) -> Snapshot:
    from leads.models import Lead

    snap = Snapshot(leads=leads)
    for model in [Lead, *_tracked_models()]:
        key = "pk__in" if model is Lead else "lead_id__in"
        snap.rows[model] = {row["id"]: row for row in model.objects.filter(**{key: leads}).values()}
    snap.last_login = {u.pk: u.last_login for u in users}
    return snap


def _restore(snap: Snapshot) -> dict[str, int]:
    """Put the snapshotted leads and their rows back; delete what the run added."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session
    from django.db import connection, transaction

    from leads.models import Lead
    from routing.models import WebhookSubscription

    done = {"deleted": 0, "restored": 0}
    with transaction.atomic():
        with connection.cursor() as cursor:
            # the audit trail refuses DELETE by a trigger; the rows this run added go
            # (replica mode skips triggers for this transaction only; needs a superuser)
            cursor.execute("SET LOCAL session_replication_role = replica")
        for model in _tracked_models():
            before = snap.rows[model]
            now = {row["id"]: row for row in model.objects.filter(lead_id__in=snap.leads).values()}
            added = [pk for pk in now if pk not in before]
            if added:
                model.objects.filter(pk__in=added)._raw_delete(connection.alias)
                done["deleted"] += len(added)
            done["restored"] += _put_back(model, before, now)
        now = {row["id"]: row for row in Lead.objects.filter(pk__in=snap.leads).values()}
        done["restored"] += _put_back(Lead, snap.rows[Lead], now)
        User = get_user_model()
        for pk, last_login in snap.last_login.items():
            User.objects.filter(pk=pk).update(last_login=last_login)
        Session.objects.filter(session_key__in=snap.sessions).delete()
        if snap.subscription_id is not None:
            WebhookSubscription.objects.filter(pk=snap.subscription_id).delete()
    PENDING.unlink(missing_ok=True)
    return done


def _put_back(model: type, before: dict[int, dict], now: dict[int, dict]) -> int:
    changed = 0
    for pk, row in now.items():
        old = before.get(pk)
        if old is not None and old != row:
            model.objects.filter(pk=pk).update(**{k: v for k, v in old.items() if k != "id"})
            changed += 1
    return changed


# --- the processes -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def _production_env(port: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BENCH_", "GUNICORN"))
    }
    env.update(
        {
            "PATH": f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": BENCH_DB,
            "REDIS_URL": REDIS_URL,
            "CACHE_KEY_PREFIX": "handoff-load",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def _start(name: str, env: dict[str, str]) -> subprocess.Popen:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        ["bash", "-c", f"exec {_procfile()[name]}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (a graceful stop of the master and its children), then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _stop_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _parents() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after ")"
            out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _tree(root: int, parents: dict[int, int]) -> list[int]:
    tree, todo = [root], [root]
    while todo:
        pid = todo.pop()
        kids = [c for c, p in parents.items() if p == pid]
        tree += kids
        todo += kids
    return tree


def _cpu_seconds(root: int) -> float:
    """User and system CPU of a process and its living children so far."""
    total = 0.0
    for pid in _tree(root, _parents()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _pss_mb(pid: int) -> float | None:
    """Proportional set size: shared pages (a prefork child's copy of its parent) counted
    once across the processes sharing them, so a tree's sum is its real footprint."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    """Peak VmRSS of each process under the given roots, and of the tree's summed PSS,
    every 0.5 s."""

    def __init__(self, roots: dict[str, int]):
        super().__init__(daemon=True)
        self.roots = roots
        self.peak: dict[str, dict[int, float]] = {name: {} for name in roots}
        self.peak_tree: dict[str, float] = dict.fromkeys(roots, 0.0)
        self.peak_tree_pss: dict[str, float] = dict.fromkeys(roots, 0.0)
        self.seen: set[int] = set()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(0.5)

    def sample(self) -> None:
        parents = _parents()
        for name, root in self.roots.items():
            total = total_pss = 0.0
            for pid in _tree(root, parents):
                rss = _rss_mb(pid)
                if rss is None:
                    continue
                self.seen.add(pid)
                total += rss
                total_pss += _pss_mb(pid) or 0.0
                self.peak[name][pid] = max(self.peak[name].get(pid, 0.0), rss)
            self.peak_tree[name] = max(self.peak_tree[name], total)
            self.peak_tree_pss[name] = max(self.peak_tree_pss[name], total_pss)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


class WebhookSink(ThreadingHTTPServer):
    """The CRM at the other end of the subscription: answers 200 and counts."""

    daemon_threads = True

    def __init__(self) -> None:
        self.received = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


# --- the simulated people ------------------------------------------------------------------


@dataclass
class Hit:
    at: float  # time.monotonic() when sent
    label: str
    status: int  # 0: no answer (exception)
    ms: float
    error: str = ""


class Browser:
    """One person's browser behind the TLS proxy: cookies, the proxy's headers, and a new
    connection to gunicorn per request (as nginx talks to its upstream by default, and
    what spreads the requests over both workers)."""

    def __init__(self, port: int, hits: list[Hit]):
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}
        self.hits = hits

    def request(self, label: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            "X-Forwarded-Proto": "https",
            "User-Agent": "handoff-load",
            "Connection": "close",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
            headers["Referer"] = self.origin + path
        started = time.monotonic()
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST" if form is not None else "GET", path, body, headers)
            response = conn.getresponse()
            data = response.read()
        except Exception as exc:  # a refused or dropped connection is an error, not a crash
            conn.close()
            self.hits.append(
                Hit(started, label, 0, (time.perf_counter() - t0) * 1000, repr(exc)[:200])
            )
            return 0, "", ""
        ms = (time.perf_counter() - t0) * 1000
        conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = http.cookies.SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        self.hits.append(Hit(started, label, response.status, ms))
        return response.status, data.decode("utf-8", "replace"), response.getheader("Location", "")

    def follow(self, label: str, status: int, location: str) -> tuple[int, str]:
        """A browser follows the redirect after a form (same-site paths only here)."""
        if status in (301, 302, 303) and location.startswith("/"):
            status, body, _ = self.request(label, location)
            return status, body
        return status, ""

    def sign_in(self, username: str) -> bool:
        status, body, _ = self.request("login form", "/login/")
        token = CSRF.search(body)
        if status != 200 or not token:
            return False
        status, _, _ = self.request(
            "sign in",
            "/login/",
            {"csrfmiddlewaretoken": token.group(1), "username": username, "password": PASSWORD},
        )
        return status == 302


def _think(rng: random.Random, stop: float, span: tuple[float, float] = THINK) -> None:
    time.sleep(max(0.0, min(rng.uniform(*span), stop - time.monotonic())))


class Gate:
    """The measured window opens when everyone has signed in (or tried to)."""

    def __init__(self, people: int):
        self.people = people
        self.arrived = 0
        self.failed = 0  # people whose sign-in did not succeed
        self.lock = threading.Lock()
        self.open = threading.Event()
        self.start = self.stop = 0.0

    def arrive(self, signed_in: bool) -> None:
        with self.lock:
            self.arrived += 1
            self.failed += not signed_in
            if self.arrived == self.people:
                self.start = time.monotonic() + 2  # let the last sign-in's work settle
                self.stop = self.start + SECONDS
                self.open.set()

    def wait(self, rng: random.Random) -> float:
        """The end of the window, once in it; people start within the first 3 s, not
        all in the same instant."""
        self.open.wait()
        time.sleep(max(0.0, self.start - time.monotonic()) + rng.uniform(0, THINK[1]))
        return self.stop


def _rep(browser: Browser, username: str, pool: set[int], gate: Gate, seed: int) -> None:
    rng = random.Random(seed)
    signed_in = browser.sign_in(username)
    gate.arrive(signed_in)
    stop = gate.wait(rng)
    if not signed_in:
        return
    status, body, _ = _open_queue(browser, rng)
    css = STYLESHEET.search(body)
    if css:
        browser.request("static file", css.group(1))  # once: the browser caches it
    while time.monotonic() < stop:
        ids = list(dict.fromkeys(LEAD_LINK.findall(body)))
        _think(rng, stop)
        if ids and time.monotonic() < stop:
            pk = int(rng.choice(ids[:10]))  # reps work the top of their queue
            status, page, _ = browser.request("lead page", f"/leads/{pk}/")
            _think(rng, stop)
            acts = status == 200 and pk in pool and rng.random() < ACT_SHARE
            if acts and time.monotonic() < stop:
                _act(browser, pk, page)
                _think(rng, stop)
        if time.monotonic() < stop:
            status, body, _ = _open_queue(browser, rng)


def _open_queue(browser: Browser, rng: random.Random) -> tuple[int, str, str]:
    """My queue; now and then filtered to the MQLs, the decisions waiting (these sort
    after the older accepted leads, so the unfiltered first page rarely shows them)."""
    if rng.random() < MQL_SHARE:
        return browser.request("my queue, MQLs", "/queue/?stage=mql")
    return browser.request("my queue", "/queue/")


def _act(browser: Browser, pk: int, page: str) -> None:
    """Accept the MQL if the page offers it, else log a touch, through the page's forms."""
    token = CSRF.search(page)
    if not token:
        return
    accept = f'action="/leads/{pk}/transitions/accept/"'
    if accept in page:
        seen = SEEN_STAGE.search(page[page.index(accept) :])
        form = {"csrfmiddlewaretoken": token.group(1), "seen_stage": seen.group(1) if seen else ""}
        status, _, location = browser.request("accept (POST)", accept[8:-1], form)
    elif f'action="/leads/{pk}/touches/"' in page:
        form = {
            "csrfmiddlewaretoken": token.group(1),
            "touch-kind": "call",
            "touch-outcome": "no_answer",
            "touch-occurred_at": "",
            "touch-note": "Called, no answer.",
        }
        status, _, location = browser.request("log touch (POST)", f"/leads/{pk}/touches/", form)
    else:
        return
    browser.follow("lead page", status, location)


def _manager(browser: Browser, gate: Gate, seed: int) -> None:
    rng = random.Random(seed)
    signed_in = browser.sign_in("manager")
    gate.arrive(signed_in)
    stop = gate.wait(rng)
    if not signed_in:
        return
    while time.monotonic() < stop:
        _, body, _ = browser.request("team page", "/team/")
        _think(rng, stop, (2.0, 5.0))
        ids = LEAD_LINK.findall(body)
        if ids and time.monotonic() < stop:
            browser.request("lead page (manager)", f"/leads/{rng.choice(ids)}/")
            _think(rng, stop, (2.0, 5.0))


def _wait_healthy(port: int, procs: dict[str, subprocess.Popen]) -> None:
    """Until the web process answers /healthz; any of `procs` exiting meanwhile fails."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {LOG_DIR}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz", headers={"X-Forwarded-Proto": "https"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"web did not answer /healthz in 90 s; see {LOG_DIR}")


def _summary(hits: list[Hit]) -> dict[str, Any]:
    ms = [h.ms for h in hits]
    errors = [h for h in hits if not 200 <= h.status < 400]
    by_kind: dict[str, int] = {}
    for h in errors:
        key = f"{h.label}: {h.status or h.error}"
        by_kind[key] = by_kind.get(key, 0) + 1
    return {
        "requests": len(hits),
        "p95_ms": round(p95(ms), 1) if ms else None,
        "median_ms": round(statistics.median(ms), 1) if ms else None,
        "max_ms": round(max(ms), 1) if ms else None,
        "errors": len(errors),
        "error_kinds": by_kind,
    }


def _load(
    port: int, reps: list[Any], pools: dict[str, set[int]], servers: dict[str, int]
) -> dict[str, Any]:
    hits: list[Hit] = []
    browsers: list[Browser] = []
    people = len(reps) + MANAGERS
    gate = Gate(people)
    begin = time.monotonic()
    threads = []
    for i in range(people):
        browser = Browser(port, hits)
        browsers.append(browser)
        if i < len(reps):
            name = reps[i].username
            target, args = _rep, (browser, name, pools[name], gate, i)
        else:
            target, args = _manager, (browser, gate, i)
        delay = begin + LOGIN_RAMP * i / people  # sign-ins spread, as a morning's are

        def run(target=target, args=args, delay=delay) -> None:
            time.sleep(max(0.0, delay - time.monotonic()))
            target(*args)

        threads.append(threading.Thread(target=run, daemon=True))
    for thread in threads:
        thread.start()
    if not gate.open.wait(timeout=LOGIN_RAMP + 300):
        raise RuntimeError("the sign-ins did not finish in time")
    start, stop = gate.start, gate.stop
    time.sleep(max(0.0, start - time.monotonic()))
    cpu_start = time.process_time()
    server_cpu = {name: _cpu_seconds(pid) for name, pid in servers.items()}
    load_before = os.getloadavg()[0]
    time.sleep(max(0.0, stop - time.monotonic()))
    # a web worker replaced in the window takes its CPU with it: a lower bound then
    server_cpu = {name: _cpu_seconds(pid) - server_cpu[name] for name, pid in servers.items()}
    load_after = os.getloadavg()[0]
    for thread in threads:
        thread.join(timeout=max(1.0, stop - time.monotonic() + 90))
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu_start
    window = [h for h in hits if start <= h.at < stop]
    logins = [h for h in hits if h.at < start]
    labels = sorted({h.label for h in window})
    out = {
        "people": {"reps": len(reps), "managers": MANAGERS},
        "seconds": SECONDS,
        **_summary(window),
        "requests_per_second": round(len(window) / SECONDS, 1),
        "pages": {label: _summary([h for h in window if h.label == label]) for label in labels},
        "sign_in": _summary(logins),
        "sign_in_failed": gate.failed,
        "load_generator_cpu_percent_of_a_core": round(100 * cpu / elapsed, 1),
        # what each request costs the web processes, whatever else the machine runs
        "web_cpu_ms_per_request": round(1000 * server_cpu["web"] / max(len(window), 1), 1),
        "web_cpu_cores_used": round(server_cpu["web"] / SECONDS, 2),
        "celery_cpu_seconds": round(server_cpu["worker"], 1),
        "machine_load_average_1min": [round(load_before, 1), round(load_after, 1)],
        "still_running": sum(t.is_alive() for t in threads),
    }
    out["_sessions"] = {b.cookies["sessionid"] for b in browsers if "sessionid" in b.cookies}
    return out


# --- the benchmark -------------------------------------------------------------------------


def _collectstatic(env: dict[str, str]) -> None:
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def _drain(subscription_id: int, sink: WebhookSink, seconds: float = 20) -> dict[str, int]:
    from routing.models import WebhookDelivery

    deadline = time.monotonic() + seconds
    while True:
        queued = WebhookDelivery.objects.filter(subscription_id=subscription_id).count()
        if sink.received >= queued or time.monotonic() > deadline:
            return {"queued": queued, "delivered": sink.received}
        time.sleep(0.5)


def measure() -> dict:
    from routing.models import WebhookSubscription

    section(
        f"load: {REPS} reps and {MANAGERS} managers for {SECONDS:.0f} s, gunicorn and Celery "
        "as in the Procfile, production settings"
    )
    # a SIGTERM (a timeout, a kill) still runs the finally below: processes stopped, data
    # put back
    signal.signal(signal.SIGTERM, _exit_on_signal)
    restore_pending()
    reps, manager = _people()
    pools = _pools(reps)
    snap = _snapshot(set().union(*pools.values()), [*reps, manager])
    print(f"{len(snap.leads)} leads snapshotted (the reps' first {POOL_PER_REP} in queue)")
    port = _free_port()
    env = _production_env(port)
    _collectstatic(env)
    sink = WebhookSink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    subscription = WebhookSubscription.objects.create(
        name="load test receiver",
        url=f"http://127.0.0.1:{sink.server_address[1]}/hook",
        event_types=[WebhookSubscription.EventType.STAGE_CHANGED],
    )
    snap.subscription_id = subscription.pk
    snap.save()
    procs: dict[str, subprocess.Popen] = {}
    sampler = None
    out: dict[str, Any] = {}
    try:
        procs["web"] = _start("web", env)
        procs["worker"] = _start("worker", env)
        _wait_healthy(port, procs)
        time.sleep(3)  # the Celery worker's pool is up
        sampler = RssSampler({name: proc.pid for name, proc in procs.items()})
        sampler.start()
        out = _load(port, reps, pools, {name: proc.pid for name, proc in procs.items()})
        snap.sessions = out.pop("_sessions")
        snap.save()
        out["webhooks"] = _drain(subscription.pk, sink)
        sampler.stop()
        web, worker = procs["web"].pid, procs["worker"].pid
        web_workers = {p: v for p, v in sampler.peak["web"].items() if p != web}
        worker_children = {p: v for p, v in sampler.peak["worker"].items() if p != worker}
        out["rss_mb"] = {
            "web_worker_peak": round(max(web_workers.values(), default=0), 1),
            "web_workers": len(web_workers),
            "web_master_peak": round(sampler.peak["web"].get(web, 0), 1),
            "web_all_processes_peak": round(sampler.peak_tree["web"], 1),
            "web_all_processes_pss_peak": round(sampler.peak_tree_pss["web"], 1),
            "celery_main_peak": round(sampler.peak["worker"].get(worker, 0), 1),
            "celery_child_peak": round(max(worker_children.values(), default=0), 1),
            "celery_children": len(worker_children),
            "celery_all_processes_peak": round(sampler.peak_tree["worker"], 1),
            "celery_all_processes_pss_peak": round(sampler.peak_tree_pss["worker"], 1),
        }
    finally:
        if sampler is not None:
            sampler.stop()
        seen = sampler.seen if sampler is not None else set()
        for proc in procs.values():
            _stop(proc)
        time.sleep(1)
        for pid in seen - {p.pid for p in procs.values()}:
            # a child the sampler saw that outlived its master (never after a clean stop);
            # only if it is still one of ours, not a new process that reused the pid
            if _parents().get(pid) in (1, *(p.pid for p in procs.values())):
                _stop_pid(pid)
        sink.shutdown()
        print("putting the data back (waits for other writers' locks on these rows)", flush=True)
        out["cleanup"] = _restore(snap)
    print(
        f"{out.get('requests')} requests, p95 {out.get('p95_ms')} ms, "
        f"errors {out.get('errors')}, RSS {out.get('rss_mb')}",
        flush=True,
    )
    for label, page in out.get("pages", {}).items():
        print(f"  {label}: {page}")
    print(f"  sign in: {out.get('sign_in')}")
    keys = ("web_cpu_ms_per_request", "web_cpu_cores_used", "celery_cpu_seconds")
    keys += ("machine_load_average_1min", "load_generator_cpu_percent_of_a_core")
    print("  " + ", ".join(f"{k} {out.get(k)}" for k in keys))
    print(f"  cleanup: {out['cleanup']}, webhooks: {out.get('webhooks')}")
    return out


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def rows(out: dict) -> list[str]:
    if not out.get("requests"):
        return []
    people = out["people"]
    rss = out["rss_mb"]
    return [
        f"| {people['reps']} reps + {people['managers']} managers for {out['seconds']:.0f} s, "
        f"gunicorn 2 workers: p95 (median {out['median_ms']} ms, {out['requests']:,} requests, "
        f"{out['requests_per_second']}/s) | {out['p95_ms']} ms | target 200 ms | "
        f"{round(out['p95_ms'] / 200, 2)} |",
        f"| same load: web CPU per request served (machine load average "
        f"{out['machine_load_average_1min'][0]}) | {out['web_cpu_ms_per_request']} ms | | |",
        f"| same load: errors (and failed sign-ins) | {out['errors']} "
        f"({out['sign_in_failed']}) | target 0 | |",
        f"| same load: peak RSS of a web worker | {rss['web_worker_peak']} MB | target 250 MB "
        f"| {round(rss['web_worker_peak'] / 250, 2)} |",
        f"| same load: peak RSS of the Celery worker (main; largest child; whole worker's PSS) "
        f"| {rss['celery_main_peak']} MB; {rss['celery_child_peak']} MB; "
        f"{rss['celery_all_processes_pss_peak']} MB | target 250 MB | "
        f"{round(max(rss['celery_main_peak'], rss['celery_child_peak']) / 250, 2)} |",
    ]


if __name__ == "__main__":
    if sys.argv[1:] != ["restore"]:
        sys.exit("usage: python bench/load.py restore  (puts back an interrupted run's data)")
    print(restore_pending() or "nothing to put back")
