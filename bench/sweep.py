"""The SLA sweep with 1,000 due clocks among 100k and 1M running ones.

The database keeps its data: step 1 is undone at the end, steps 2 and 3 happen inside
one transaction that is rolled back.

1. The database's own due work is put out of the way: every running clock is pushed
   ten years ahead and nurtured leads' follow-up dates too, so the figure is the 1,000
   due clocks and nothing the demo history left overdue. This move is committed and
   vacuumed before measuring, and put back afterwards (from the tables
   bench_sweep_clocks and bench_sweep_follow_ups, which an interrupted run leaves for
   the next one to put back): made inside the measuring transaction, the moved
   clocks' earlier versions stayed at the front of the due-clock indexes, where no
   server's sweep meets them (they are dead there, and marked so by the first scan),
   and every measured sweep walked through tens of thousands of them (22 to 96 ms).
2. Filler clocks (due ten years ahead) bring the running clocks up to the total, on
   leads in stages without clocks (so no transition in the sweep meets one of them).
3. Each run (in its own savepoint, rolled back): 1,000 running clocks become due five
   minutes ago, the ones whose breach has an action first (decision clocks of MQLs,
   first-touch clocks of accepted leads: reassign or return to marketing, as the
   policies say), then qualification and disposition clocks (notify only). The sweep
   is timed; the median of three runs is reported with what it did.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bench.common import section, vacuum

SIZES = (100_000, 1_000_000)
DUE = 1_000
RUNS = 3
# stages in which no clock runs: filler clocks there never meet a transition
QUIET_STAGES = ("new", "engaged", "sql", "nurture", "opportunity", "disqualified")


def _execute(sql: str, params: list | tuple = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _scalar(sql: str, params: list | tuple = ()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _running() -> int:
    return _scalar("SELECT count(*) FROM routing_slaclock WHERE stopped_at IS NULL")


SAVED_CLOCKS = "bench_sweep_clocks"
SAVED_FOLLOW_UPS = "bench_sweep_follow_ups"


def _saved() -> bool:
    return bool(_scalar("SELECT to_regclass(%s) IS NOT NULL", [SAVED_CLOCKS]))


def _quiet_history(now: dt.datetime) -> None:
    """Move the database's own due work out of the way, keeping what it was (committed)."""
    far = now + dt.timedelta(days=3650)
    with transaction.atomic():
        _execute(
            f"CREATE TABLE {SAVED_CLOCKS} AS SELECT id, due_at, warn_at FROM routing_slaclock "
            "WHERE stopped_at IS NULL"
        )
        _execute(
            f"CREATE TABLE {SAVED_FOLLOW_UPS} AS SELECT id, follow_up_on FROM leads_lead "
            "WHERE stage = 'nurture' AND follow_up_on <= %s",
            [now.date()],
        )
        _execute(
            "UPDATE routing_slaclock SET due_at = %s, warn_at = CASE WHEN warn_at IS NULL "
            "THEN NULL ELSE %s END WHERE stopped_at IS NULL",
            [far, far],
        )
        _execute(
            f"UPDATE leads_lead l SET follow_up_on = %s FROM {SAVED_FOLLOW_UPS} s "
            "WHERE l.id = s.id",
            [far.date()],
        )
    vacuum(("routing_slaclock", "leads_lead"))


def _put_back_history() -> None:
    """Give the moved clocks and follow-ups their times again (committed)."""
    with transaction.atomic():
        _execute(
            f"UPDATE routing_slaclock c SET due_at = s.due_at, warn_at = s.warn_at "
            f"FROM {SAVED_CLOCKS} s WHERE c.id = s.id"
        )
        _execute(
            f"UPDATE leads_lead l SET follow_up_on = s.follow_up_on "
            f"FROM {SAVED_FOLLOW_UPS} s WHERE l.id = s.id"
        )
        _execute(f"DROP TABLE {SAVED_CLOCKS}")
        _execute(f"DROP TABLE {SAVED_FOLLOW_UPS}")


def _fill(total: int, now: dt.datetime, policy_id: int) -> None:
    need = total - _running()
    if need <= 0:
        return
    far = now + dt.timedelta(days=3650)
    _execute(
        """
        INSERT INTO routing_slaclock (lead_id, kind, policy_id, target, started_at, due_at,
                                      stopped_by, outcome)
        SELECT l.id, k.kind, %s, interval '4 hours', %s, %s, '', ''
        FROM (VALUES ('decision'), ('first_touch'), ('qualification'), ('disposition'))
             AS k(kind)
        CROSS JOIN leads_lead l
        WHERE l.stage = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM routing_slaclock c WHERE c.lead_id = l.id
                          AND c.kind = k.kind AND c.stopped_at IS NULL)
        LIMIT %s
        """,
        [policy_id, now - dt.timedelta(hours=1), far, list(QUIET_STAGES), need],
    )
    _execute("ANALYZE routing_slaclock")


def _make_due(now: dt.datetime) -> dict[str, int]:
    """1,000 running clocks due five minutes ago, those with a breach action first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH picked AS (
                SELECT c.id FROM routing_slaclock c JOIN leads_lead l ON l.id = c.lead_id
                WHERE c.stopped_at IS NULL AND c.breached_at IS NULL
                  AND l.archived_at IS NULL
                  AND ((c.kind = 'decision' AND l.stage = 'mql')
                       OR (c.kind IN ('first_touch', 'qualification') AND l.stage = 'accepted')
                       OR (c.kind = 'disposition' AND l.stage = 'rejected'))
                ORDER BY CASE c.kind WHEN 'decision' THEN 0 WHEN 'first_touch' THEN 1
                         ELSE 2 END, c.id
                LIMIT %s
            )
            UPDATE routing_slaclock c SET due_at = %s, warn_at = NULL
            FROM picked WHERE c.id = picked.id
            RETURNING c.kind
            """,
            [DUE, now - dt.timedelta(minutes=5)],
        )
        kinds: dict[str, int] = {}
        for (kind,) in cursor.fetchall():
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def measure() -> dict:
    """The sweep's cost should follow the due clocks, not the total running."""
    from routing.models import SlaPolicy

    section(f"SLA sweep: {DUE:,} due among N running clocks")
    policy = SlaPolicy.objects.get(priority="standard", active=True)
    now = dt.datetime.now(dt.UTC)
    out: dict[str, dict] = {}
    if _saved():  # an interrupted run moved them: put them back first
        _put_back_history()
    _quiet_history(now)
    try:
        _measure(now, policy, out)
    finally:
        _put_back_history()
    # a million filler clocks, every running clock moved and the breaches' writes, dead
    # (the due clocks' index would walk past every earlier run's due clocks)
    vacuum()
    return out


def _measure(now: dt.datetime, policy, out: dict[str, dict]) -> None:
    from routing import sla
    from routing.models import Team

    with transaction.atomic():
        # This transaction writes thousands of clocks; a writer that routes a lead (team
        # locked) and then meets one of them would deadlock with the sweep's routing.
        # Holding the teams from the start makes such a writer wait for the bench instead.
        list(Team.objects.select_for_update().order_by("pk"))
        for total in SIZES:
            _fill(total, now, policy.pk)
            running = _running()
            if running < total:
                print(f"skipped {total:,}: only {running:,} running clocks could be made")
                continue
            runs: list[float] = []
            for _ in range(RUNS):
                sid = transaction.savepoint()
                kinds = _make_due(now)
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    result = sla.sweep(now)
                    runs.append(time.perf_counter() - started)
                transaction.savepoint_rollback(sid)
                print(
                    f"  {total:,}: {runs[-1]:.2f} s, {len(captured)} queries {result.as_dict()}",
                    flush=True,
                )
            out[f"{total:,} running"] = {
                "running": running,
                "median_s": round(statistics.median(runs), 2),
                "runs_s": [round(run, 2) for run in runs],
                "due_kinds": kinds,
                "queries": len(captured),
                **result.as_dict(),
            }
            print(total, out[f"{total:,} running"], flush=True)
        transaction.set_rollback(True)  # the bench database keeps its data


def rows(out: dict) -> list[str]:
    return [
        f"| SLA sweep, {sweep['breached']:,} due among {label} clocks "
        f"({sweep.get('reassigned', 0):,} reassigned, {sweep.get('returned', 0):,} returned, "
        f"{sweep.get('queries', '?')} queries) "
        f"| {sweep['median_s']} s | | |"
        for label, sweep in out.items()
    ]
