"""SLA clocks: started and stopped by the lifecycle in the transaction of the transition
(or logged touch) that starts or stops them, and swept every minute by Celery beat.

A clock kind runs only while the lead is in its stage (decision: mql; first touch and
qualification: accepted; disposition: rejected), so every transition stops the clocks of
the stage it leaves and starts those of the stage it enters. Sales clocks start when the
lead gets an owner, not when it became an MQL: routing delay never counts against a rep.

Locking order, everywhere: the lead row, then its clocks. Whoever writes a clock holds
its lead's lock, so the sweep (which locks leads with SKIP LOCKED) and the transitions
(which lock the lead first) never deadlock and never both act on one breach.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import DateTimeField, Min, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from leads.bulk import attach_related, insert_rows, update_columns
from leads.models import Lead, StageChange, Touch
from leads.stages import Stage

from . import notifications, webhooks
from .business_time import Calendar, add_business_time, business_time_between
from .models import Assignment, ClockKind, Notification, SlaClock, SlaPolicy, Team

logger = logging.getLogger(__name__)

# The stage in which each clock kind runs.
CLOCK_STAGE = {
    ClockKind.DECISION: Stage.MQL,
    ClockKind.FIRST_TOUCH: Stage.ACCEPTED,
    ClockKind.QUALIFICATION: Stage.ACCEPTED,
    ClockKind.DISPOSITION: Stage.REJECTED,
}
# Clocks that measure the owner personally: a new owner gets them afresh.
OWNER_CLOCKS = {Stage.MQL: ClockKind.DECISION, Stage.ACCEPTED: ClockKind.FIRST_TOUCH}
SLA_REASON = "no-response-within-sla"
# leads per transaction of the sweep: 1,000 due clocks are one batch
BATCH_SIZE = 1000
# due clocks read at a time (of each part: breaches, warnings), claimed in batches
READ_SIZE = 5000


# --- policies and clocks ----------------------------------------------------------------


def _active_policies() -> list[SlaPolicy]:
    return list(
        SlaPolicy.objects.filter(active=True)
        .select_related("calendar")
        .prefetch_related("calendar__holidays")
    )


def _pick_policy(lead: Lead, policies: Iterable[SlaPolicy]) -> SlaPolicy | None:
    """The active policy for the lead's priority and channel, else for its priority and
    any channel, else the standard one: a lead with an unusual priority still has a clock."""
    candidates = [
        policy
        for policy in policies
        if (policy.priority == lead.priority and policy.source in (lead.source, ""))
        or (policy.priority == Lead.Priority.STANDARD and policy.source == "")
    ]

    def rank(policy: SlaPolicy) -> tuple[int, int]:
        return (policy.priority != lead.priority, policy.source != lead.source)

    return min(candidates, key=rank) if candidates else None


def policy_for(lead: Lead) -> SlaPolicy | None:
    """The SLA policy that sets the lead's targets (see _pick_policy)."""
    return _pick_policy(lead, _active_policies())


def policies_for(leads: Iterable[Lead]) -> dict[int, SlaPolicy | None]:
    """policy_for for many leads, in one read of the (few) active policies."""
    policies = _active_policies()
    return {lead.pk: _pick_policy(lead, policies) for lead in leads}


@dataclass(frozen=True)
class ClockStart:
    """A clock to start: on `lead`, of `kind`, for `owner` (None: marketing)."""

    lead: Lead
    kind: str
    owner: Any
    policy: SlaPolicy | None = None  # None: the lead's policy (policy_for)


def start_clocks(
    *, starts: Sequence[ClockStart], at: dt.datetime, sync: bool = True
) -> list[SlaClock | None]:
    """Start clocks (None for each one no policy sets a target for), in one insert, and
    keep the leads' sla_due_at in step (unless `sync` is False: the caller does, once
    for several changes). The caller holds the leads' locks."""
    missing = [start.lead for start in starts if start.policy is None]
    found = policies_for(missing) if missing else {}
    clocks: list[SlaClock | None] = []
    # every clock starts at `at`: its due and warning times depend on its policy and
    # kind only, worked out once for each of the few pairs
    times: dict[tuple[int, str], tuple[dt.datetime, dt.datetime | None]] = {}
    for start in starts:
        policy = start.policy or found.get(start.lead.pk)
        target = policy.target(start.kind) if policy is not None else None
        if policy is None or target is None:
            clocks.append(None)
            continue
        key = (policy.pk, start.kind)
        if key not in times:
            calendar = policy.calendar.as_calendar()
            warn_at = None
            if policy.warning_percent:
                warn_at = add_business_time(at, target * policy.warning_percent / 100, calendar)
            times[key] = (add_business_time(at, target, calendar), warn_at)
        due_at, warn_at = times[key]
        clocks.append(
            SlaClock(
                lead=start.lead,
                kind=start.kind,
                policy=policy,
                owner=start.owner,
                target=target,
                started_at=at,
                due_at=due_at,
                warn_at=warn_at,
            )
        )
    created = [clock for clock in clocks if clock is not None]
    if created:
        insert_rows(created)
        if sync:
            sync_due_many([clock.lead for clock in created])
    return clocks


def start_clock(
    *,
    lead: Lead,
    kind: str,
    at: dt.datetime,
    owner: Any,
    policy: SlaPolicy | None = None,
) -> SlaClock | None:
    """Start a clock of `kind` (None when no policy sets a target for it)."""
    return start_clocks(starts=[ClockStart(lead, kind, owner, policy)], at=at)[0]


def sync_due_many(leads: Iterable[Lead], *, write: bool = True) -> list[Lead]:
    """Keep Lead.sla_due_at (the most urgent running clock's due time) in step; the
    manager's team page sorts by it. Called with the leads locked, after clocks change:
    one read, and one write for those whose time changed. Returns those leads, their
    sla_due_at set; with `write` False the caller writes it (with its own columns of
    the same leads, in one statement: routing's change of owner)."""
    by_pk = {lead.pk: lead for lead in leads}
    if not by_pk:
        return []
    due = dict(
        SlaClock.objects.filter(lead_id__in=list(by_pk), stopped_at__isnull=True)
        .values("lead_id")
        .annotate(due=Min("due_at"))
        .values_list("lead_id", "due")
    )
    changed = [lead for pk, lead in by_pk.items() if due.get(pk) != lead.sla_due_at]
    for lead in changed:
        lead.sla_due_at = due.get(lead.pk)
    if write:
        # the leads are locked: nobody changes their clocks before this write
        update_columns(changed, ["sla_due_at"])
    return changed


def sync_due(lead: Lead) -> None:
    """sync_due_many for one lead."""
    sync_due_many([lead])


def _attach(clocks: Sequence[SlaClock], *, owners: bool = False) -> dict[int, Calendar]:
    """Give many clocks their policies (with calendar and holidays) and, with `owners`,
    their owners: the few of each read once, not joined to every clock (building them
    again for each of a thousand clocks cost more than the reads). Returns the policies'
    calendars by policy pk."""
    if not clocks:
        return {}
    policies = (
        SlaPolicy.objects.filter(pk__in={clock.policy_id for clock in clocks})
        .select_related("calendar")
        .prefetch_related("calendar__holidays")
        .in_bulk()
    )
    for clock in clocks:
        clock.policy = policies[clock.policy_id]
    if owners:
        attach_related(clocks, ["owner"])
    return {pk: policy.calendar.as_calendar() for pk, policy in policies.items()}


def stop_clocks_many(
    *,
    leads: Sequence[Lead],
    at: dt.datetime,
    stopped_by: str,
    kinds: Mapping[int, Collection[str]] | Collection[str] | None = None,
    handed_over: bool = False,
    sync: bool = True,
    running: Sequence[SlaClock] | None = None,
) -> list[SlaClock]:
    """Stop the leads' running clocks (of `kinds`: the same for every lead, or per lead
    pk), recording met or breached and the business time taken, in one read and one
    write; then the leads' sla_due_at (unless `sync` is False: the caller does, once for
    several changes). The caller holds the leads' locks. `running`: those clocks, when
    the caller has them already, locked and with their policies (the sweep's breached
    clocks): not read again."""
    by_pk = {lead.pk: lead for lead in leads}
    if not by_pk:
        return []
    if running is None:
        found = SlaClock.objects.filter(lead_id__in=list(by_pk), stopped_at__isnull=True)
        if kinds is not None and not isinstance(kinds, Mapping):
            found = found.filter(kind__in=list(kinds))
        clocks = [
            clock
            for clock in found.order_by("lead_id", "pk")
            if not isinstance(kinds, Mapping) or clock.kind in kinds.get(clock.lead_id, ())
        ]
        calendars = _attach(clocks)
    else:
        clocks = list(running)
        calendars = {c.policy_id: c.policy.calendar.as_calendar() for c in clocks}
    for clock in clocks:
        stopped_at = max(at, clock.started_at)
        clock.stopped_at = stopped_at
        clock.stopped_by = stopped_by
        clock.business_time = business_time_between(
            clock.started_at, stopped_at, calendars[clock.policy_id]
        )
        if clock.breached_at is not None or stopped_at > clock.due_at:
            clock.outcome = SlaClock.Outcome.BREACHED
        elif handed_over:
            clock.outcome = SlaClock.Outcome.REASSIGNED
        else:
            clock.outcome = SlaClock.Outcome.MET
    if clocks:
        update_columns(clocks, ["stopped_at", "stopped_by", "business_time", "outcome"])
        if sync:
            sync_due_many([by_pk[pk] for pk in {clock.lead_id for clock in clocks}])
    return clocks


def stop_clocks(
    *,
    lead: Lead,
    at: dt.datetime,
    stopped_by: str,
    kinds: Collection[str] | None = None,
    handed_over: bool = False,
) -> list[SlaClock]:
    """Stop the lead's running clocks (of `kinds`); see stop_clocks_many."""
    return stop_clocks_many(
        leads=[lead], at=at, stopped_by=stopped_by, kinds=kinds, handed_over=handed_over
    )


def restart_owner_clocks_many(
    *,
    leads: Sequence[Lead],
    at: dt.datetime,
    running: Mapping[int, SlaClock] | None = None,
) -> dict[int, SlaClock]:
    """After a change of owner: the new owner gets a full target on the clock that
    measures them personally (decision in mql; first touch in accepted, unless the first
    touch already happened). Qualification and disposition clocks run on. Returns the
    clocks started, by lead pk. The caller brings the leads' sla_due_at in step
    (sync_due_many), with its own write of them. `running`: by lead pk, the running clock
    of that kind the caller holds already (the sweep: the breached clocks), not read
    again when there is one for every lead."""
    kinds = {lead.pk: OWNER_CLOCKS[lead.stage] for lead in leads if lead.stage in OWNER_CLOCKS}
    if not kinds:
        return {}
    moved = [lead for lead in leads if lead.pk in kinds]
    held = [(running or {}).get(pk) for pk in kinds]
    known = [c for c in held if c is not None and c.kind == kinds[c.lead_id] and not c.stopped_at]
    stopped = stop_clocks_many(
        leads=moved,
        at=at,
        stopped_by="reassigned",
        kinds={pk: [kind] for pk, kind in kinds.items()},
        handed_over=True,
        sync=False,
        running=known if len(known) == len(kinds) else None,
    )
    was_running = {clock.lead_id for clock in stopped}
    starts = [
        ClockStart(lead, kinds[lead.pk], lead.owner)
        for lead in moved
        if lead.owner_id is not None
        and (kinds[lead.pk] != ClockKind.FIRST_TOUCH or lead.pk in was_running)
    ]
    started = start_clocks(starts=starts, at=at, sync=False)
    return {start.lead.pk: clock for start, clock in zip(starts, started, strict=True) if clock}


def due_text(clock: SlaClock | None) -> str:
    """When the clock is due, on its calendar's wall clock."""
    if clock is None:
        return ""
    return notifications.when(clock.due_at, ZoneInfo(clock.policy.calendar.time_zone))


def _touched_since_mql(lead: Lead) -> bool:
    entered = (
        StageChange.objects.filter(lead=lead, to_stage=Stage.MQL)
        .order_by("-at", "-pk")
        .values_list("at", flat=True)
        .first()
    )
    return (
        entered is not None and Touch.objects.filter(lead=lead, occurred_at__gte=entered).exists()
    )


# --- called by the lifecycle (leads.services) -------------------------------------------


def on_stage_change(*, lead: Lead, change: StageChange) -> None:
    """Inside the transition's transaction, with `lead` locked: stop the clocks of the
    stage left, route a new MQL, start the clocks of the stage entered."""
    on_stage_changes([(lead, change)])


def on_stage_changes(pairs: Sequence[tuple[Lead, StageChange]]) -> None:
    """on_stage_change for the leads of one batch transition (all locked, one time):
    clocks stopped in one read and write, new MQLs routed together."""
    from . import services  # services builds on this module

    leaving = [
        (lead, change) for lead, change in pairs if change.from_stage in CLOCK_STAGE.values()
    ]
    if leaving:  # no clock runs in the other stages
        stop_clocks_many(
            leads=[lead for lead, _ in leaving],
            at=leaving[0][1].at,
            stopped_by=leaving[0][1].transition,
            kinds={
                lead.pk: [
                    kind for kind, runs_in in CLOCK_STAGE.items() if runs_in != change.to_stage
                ]
                for lead, change in leaving
            },
        )
    # assigns each new MQL and starts its decision clock at assignment time
    services.on_mqls([(lead, change) for lead, change in pairs if change.to_stage == Stage.MQL])
    for lead, change in pairs:
        at = change.at
        if change.to_stage == Stage.ACCEPTED:
            policy = policy_for(lead)
            if policy is None:
                continue
            first_touch = start_clock(
                lead=lead, kind=ClockKind.FIRST_TOUCH, at=at, owner=lead.owner, policy=policy
            )
            if first_touch is not None and _touched_since_mql(lead):
                # the rep called before clicking "accept": the first touch was on time
                stop_clocks(lead=lead, at=at, stopped_by="touch", kinds=[ClockKind.FIRST_TOUCH])
            start_clock(
                lead=lead, kind=ClockKind.QUALIFICATION, at=at, owner=lead.owner, policy=policy
            )
        elif change.to_stage == Stage.REJECTED:
            clock = start_clock(lead=lead, kind=ClockKind.DISPOSITION, at=at, owner=None)
            services.on_rejected(lead=lead, change=change, disposition=clock)


def on_touch(*, lead: Lead, touch: Touch) -> None:
    """The first logged touch stops the first-touch clock (in the touch's transaction,
    with the lead locked by the caller)."""
    stop_clocks(
        lead=lead,
        at=min(touch.occurred_at, timezone.now()),
        stopped_by="touch",
        kinds=[ClockKind.FIRST_TOUCH],
    )


# --- the sweep ---------------------------------------------------------------------------


@dataclass
class SweepResult:
    warned: int = 0
    breached: int = 0
    reassigned: int = 0
    returned: int = 0
    followed_up: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _due(now: dt.datetime) -> Q:
    # matches the two partial indexes on running clocks
    return Q(stopped_at__isnull=True) & (
        Q(warned_at__isnull=True, warn_at__lte=now) | Q(breached_at__isnull=True, due_at__lte=now)
    )


def _due_parts(now: dt.datetime, limit: int, skip: Collection[int]) -> tuple[QuerySet, QuerySet]:
    running = SlaClock.objects.filter(stopped_at__isnull=True)
    if skip:
        running = running.exclude(lead_id__in=list(skip))
    breaches = running.filter(breached_at__isnull=True, due_at__lte=now).order_by("due_at")
    warnings = running.filter(warned_at__isnull=True, warn_at__lte=now).order_by("warn_at")
    return (
        breaches.annotate(part=Value("breach")).values_list("lead_id", "part")[:limit],
        warnings.annotate(part=Value("warning")).values_list("lead_id", "part")[:limit],
    )


def due_leads(now: dt.datetime, *, limit: int = READ_SIZE, skip: Collection[int] = ()) -> QuerySet:
    """(lead pk, "breach" or "warning") of the first `limit` clocks to breach and the first
    `limit` to warn at `now` (leads in `skip` left out), each part read in the order of
    its partial index on running clocks: the planner walks the index from its start and
    stops at `limit` or at the first clock not yet due, so the cost follows the due
    clocks, not the running or stopped ones. (Without the order and limit, the planner
    takes "running" and "due by now" for independent: with a million running clocks and
    as many stopped ones, all of those due in the past, it expects a third of the table
    to match and reads all of it.)"""
    breaches, warnings = _due_parts(now, limit, skip)
    return breaches.union(warnings, all=True)


def _read_due(now: dt.datetime, skip: Collection[int]) -> list[tuple[int, str]]:
    """due_leads, read: one query where a UNION's parts may have their own LIMIT
    (PostgreSQL), a query per part where they may not (SQLite, the quick start)."""
    if connection.features.supports_slicing_ordering_in_compound:
        return list(due_leads(now, limit=READ_SIZE, skip=skip))
    return [row for part in _due_parts(now, READ_SIZE, skip) for row in part]


def sweep(now: dt.datetime, *, batch_size: int = BATCH_SIZE) -> SweepResult:
    """Warn, breach and escalate every clock due at `now`, then bring back nurtured leads
    whose follow-up date has come.

    Idempotent and safe on several workers at once: leads are claimed with
    SELECT ... FOR UPDATE SKIP LOCKED (a lead another sweep or a transition holds is
    left to it, or to the next run), and each state is re-read under the lock, so a
    warning or breach is recorded, notified and acted on exactly once. Works from the
    database alone, so a missed run is caught up by the next one.

    Set-based: the most overdue clocks' leads are read (due_leads, READ_SIZE at a time
    and again only while there may be more) and claimed `batch_size` at a time; each
    batch costs the same few queries however many of its clocks are due or running, the
    reassignments included; only a return to marketing is a transition of its own (the
    lifecycle's reject, one lead at a time).
    """
    result = SweepResult()
    seen: set[int] = set()  # claimed, or held by another worker: not read again
    skipped: set[int] = set()  # held by another worker
    while True:
        read = _read_due(now, skipped)
        due = sorted({lead_id for lead_id, _ in read} - seen)
        seen.update(due)
        for start in range(0, len(due), batch_size):
            wanted = due[start : start + batch_size]
            with transaction.atomic():
                leads = _claim(wanted)
                if leads:
                    _sweep_batch(leads, now, result)
            skipped.update(set(wanted) - {lead.pk for lead in leads})
        # a part cut at the limit may have more behind it; a claimed lead's due clocks
        # are all handled, so a read that brings no new lead is the last
        if not due or max(Counter(part for _, part in read).values()) < READ_SIZE:
            break
    _return_follow_ups(now, result, batch_size)
    return result


# what a lead of the sweep is read with: its own account, and the few owners, product
# lines and criteria sets of a batch read once each (not built again for every lead)
SHARED = ("owner", "product_line", "criteria_set")


def _claim(pks: Sequence[int]) -> list[Lead]:
    """Lock the leads nobody else holds (SKIP LOCKED), in primary-key order."""
    leads = list(
        Lead.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=list(pks))
        .select_related("account")
        .order_by("pk")
    )
    attach_related(leads, SHARED)
    return leads


def _sweep_batch(leads: list[Lead], now: dt.datetime, result: SweepResult) -> None:
    """A constant number of queries for warnings, breaches and their notifications,
    however many; the breach actions are batched too (see _breach_actions)."""
    archived = [lead for lead in leads if lead.archived_at is not None]
    for lead in archived:
        # archiving is not a transition: its clocks end here, quietly
        stop_clocks(lead=lead, at=min(lead.archived_at, now), stopped_by="archived")
    leads = [lead for lead in leads if lead.archived_at is None]
    if not leads:
        return
    by_pk = {lead.pk: lead for lead in leads}
    clocks = list(
        SlaClock.objects.select_for_update()
        .filter(_due(now), lead_id__in=list(by_pk))
        .order_by("lead_id", "kind")
    )
    _attach(clocks, owners=True)
    breached = [c for c in clocks if c.breached_at is None and c.due_at <= now]
    # A clock past due and past its warning point is only breached: a late warning helps
    # nobody. Its warning point is recorded as passed so it is never warned afterwards.
    breached_pks = {c.pk for c in breached}
    warned = [c for c in clocks if c.pk not in breached_pks]
    # The leads are locked, so nobody else writes these clocks; the conditions restate
    # "exactly once" in the UPDATE itself all the same.
    claimed_warnings = SlaClock.objects.filter(
        pk__in=[c.pk for c in warned], warned_at__isnull=True
    ).update(warned_at=now)
    claimed_breaches = SlaClock.objects.filter(
        pk__in=list(breached_pks), breached_at__isnull=True
    ).update(
        breached_at=now,
        outcome=SlaClock.Outcome.BREACHED,
        warned_at=Coalesce("warned_at", Value(now, output_field=DateTimeField())),
    )
    result.warned += claimed_warnings
    result.breached += claimed_breaches
    for clock in breached:  # as just written (a reassignment stops them next)
        clock.breached_at = now
        clock.outcome = SlaClock.Outcome.BREACHED
        clock.warned_at = clock.warned_at or now

    # the disposition clock is marketing's: its breach tells no sales manager
    managers = _team_managers(
        {by_pk[c.lead_id] for c in breached if c.kind != ClockKind.DISPOSITION}
    )
    fallback: dict[str, list[Any]] = {}

    def role_users(name: str) -> list[Any]:
        if name not in fallback:
            fallback[name] = (
                notifications.marketing_ops()
                if name == "marketing"
                else notifications.sales_managers()
            )
        return fallback[name]

    messages: list[notifications.Message] = []
    for clock in warned:
        lead = by_pk[clock.lead_id]
        context = _clock_context(clock, lead, now)
        for recipient in _clock_owners(clock, role_users):
            messages.append(
                notifications.Message(recipient, Notification.Kind.SLA_WARNING, lead, context)
            )

    # the context is taken before the actions: the breach tells how the lead stood
    contexts = {clock.pk: _clock_context(clock, by_pk[clock.lead_id], now) for clock in breached}
    actions = _breach_actions(breached, by_pk, now, result)
    for clock in breached:
        lead = by_pk[clock.lead_id]
        context = {**contexts[clock.pk], "action": actions.get(clock.pk, "")}
        recipients = list(_clock_owners(clock, role_users))
        if clock.kind != ClockKind.DISPOSITION:
            recipients += managers.get(lead.pk) or role_users("managers")
        for recipient in recipients:
            messages.append(
                notifications.Message(recipient, Notification.Kind.SLA_BREACH, lead, context)
            )
    notifications.notify(messages, at=now)
    # outbound webhooks, after commit
    webhooks.queue_event(webhooks.SLA_WARNED, *[c.pk for c in warned])
    webhooks.queue_event(webhooks.SLA_BREACHED, *[c.pk for c in breached])


def _clock_owners(clock: SlaClock, role_users) -> list[Any]:
    if clock.kind == ClockKind.DISPOSITION:
        return role_users("marketing")
    return [clock.owner] if clock.owner is not None else []


def _team_managers(leads: Collection[Lead]) -> dict[int, list[Any]]:
    """The manager of each lead's team, the team it was last routed to (Lead.routed_team,
    as its latest Assignment with a team says): one read of the few teams, with their
    managers."""
    teams = {lead.routed_team_id for lead in leads} - {None}
    manager_of = {
        team.pk: team.manager
        for team in Team.objects.filter(pk__in=teams, manager__isnull=False).select_related(
            "manager"
        )
    }
    return {
        lead.pk: [manager_of[lead.routed_team_id]]
        for lead in leads
        if lead.routed_team_id in manager_of
    }


def _clock_context(clock: SlaClock, lead: Lead, now: dt.datetime) -> dict[str, Any]:
    zone = ZoneInfo(clock.policy.calendar.time_zone)
    return {
        **notifications.lead_context(lead),
        "clock": clock.get_kind_display(),
        "clock_kind": clock.kind,
        "owner_name": notifications.person(clock.owner) or "Marketing",
        "policy": clock.policy.name,
        "target_minutes": int(clock.target.total_seconds() // 60),
        "started": notifications.when(clock.started_at, zone),
        "due": due_text(clock),
    }


def _breach_actions(
    breached: list[SlaClock], by_pk: dict[int, Lead], now: dt.datetime, result: SweepResult
) -> dict[int, str]:
    """Apply the breached clocks' policy actions, one per lead and sweep; returns clock
    pk -> what was done. The reassignments of the batch are made together (one routing
    decision per lead, the rest written at once); a lead the policy returns to marketing,
    or that nobody else can take (or was reassigned max_reassignments times in this MQL
    cycle already), is rejected through the lifecycle with the system reason."""
    from . import services

    candidates: dict[int, SlaClock] = {}
    for c in breached:
        if (
            c.policy.breach_action != SlaPolicy.BreachAction.NOTIFY
            and CLOCK_STAGE[c.kind] == by_pk[c.lead_id].stage
            and c.kind in (ClockKind.DECISION, ClockKind.FIRST_TOUCH)
        ):
            candidates.setdefault(c.lead_id, c)  # one action per lead and sweep
    if not candidates:
        return {}
    reassigned = Counter(
        lead_id
        for lead_id, cycle in Assignment.objects.filter(
            lead_id__in=list(candidates), kind=Assignment.Kind.SLA
        ).values_list("lead_id", "mql_cycle")
        if cycle == by_pk[lead_id].mql_cycle
    )
    to_reassign = [
        (by_pk[c.lead_id], c)
        for c in candidates.values()
        if c.policy.breach_action == SlaPolicy.BreachAction.REASSIGN
        and reassigned[c.lead_id] < c.policy.max_reassignments
    ]
    failed: set[int] = set()

    def reassign(items: list[tuple[Lead, SlaClock]]) -> dict[int, Any]:
        return services.reassign_after_breaches(breaches=items, at=now)

    records = _batched(reassign, to_reassign, by_pk, failed)
    done: dict[int, str] = {}
    for lead_id, record in records.items():
        result.reassigned += 1
        done[candidates[lead_id].pk] = f"Reassigned to {notifications.person(record.owner)}."
    for lead_id, clock in candidates.items():
        if lead_id in records or lead_id in failed or clock.kind != ClockKind.DECISION:
            continue  # a first-touch clock is never returned: the rep accepted the lead
        try:
            with transaction.atomic():
                _return_to_marketing(by_pk[lead_id], clock, now)
            result.returned += 1
            done[clock.pk] = "Returned to marketing as a rejection: no response within SLA."
        except Exception:
            # The breach is recorded and notified; the action is logged, not retried forever.
            logger.exception("SLA sweep: breach action failed for lead %s", lead_id)
            failed.add(lead_id)
    result.failed += len(failed)
    return done


def _batched(
    action: Callable[[list[tuple[Lead, SlaClock]]], dict[int, Any]],
    items: list[tuple[Lead, SlaClock]],
    by_pk: dict[int, Lead],
    failed: set[int],
) -> dict[int, Any]:
    """Run `action` on all items at once; should that fail, lead by lead, so one lead in
    a bad state cannot hold back the others (its failure is logged and added to
    `failed`). Each attempt runs in its own savepoint."""
    if not items:
        return {}
    try:
        with transaction.atomic():
            return action(items)
    except Exception:
        logger.warning("SLA sweep: a batch of breach actions failed; one by one", exc_info=True)
    # the failed attempt may have changed the leads in memory: read them again (locked)
    fresh = Lead.objects.select_related("account", "owner", "product_line", "criteria_set")
    done: dict[int, Any] = {}
    for lead, clock in items:
        try:
            with transaction.atomic():
                lead = by_pk[lead.pk] = fresh.get(pk=lead.pk)
                done.update(action([(lead, clock)]))
        except Exception:
            logger.exception("SLA sweep: breach action failed for lead %s", lead.pk)
            failed.add(lead.pk)
    return done


def _return_to_marketing(lead: Lead, clock: SlaClock, now: dt.datetime) -> None:
    from leads.services import reject

    reject(
        lead=lead,
        by=None,
        reason=SLA_REASON,
        note=(
            f"No decision within the {clock.policy.name} target "
            f"(due {due_text(clock)}); returned by handoff."
        ),
        at=now,
        allow_system_reason=True,
    )


def follow_ups_due(today: dt.date) -> QuerySet[Lead]:
    """Nurtured leads whose follow-up date has come, read through the partial index on
    follow-up dates of nurtured leads (its cost follows the due ones, not the nurtured)."""
    return Lead.objects.filter(
        stage=Stage.NURTURE, follow_up_on__lte=today, archived_at__isnull=True
    )


def _return_follow_ups(now: dt.datetime, result: SweepResult, batch_size: int) -> None:
    """Nurtured leads whose follow-up date has come return to their owner as MQLs.
    qualify_mql clears the date, so each comes back once."""
    from leads.services import LeadActionRefused, qualify_mql

    today = timezone.localdate(now)
    last_pk = 0
    while True:
        with transaction.atomic():
            leads = list(
                follow_ups_due(today)
                .select_for_update(skip_locked=True, of=("self",))
                .filter(pk__gt=last_pk)
                .select_related("account", "owner", "product_line", "criteria_set")
                .order_by("pk")[:batch_size]
            )
            if not leads:
                return
            last_pk = leads[-1].pk
            for lead in leads:
                try:
                    with transaction.atomic():
                        qualify_mql(lead=lead, at=now)
                    result.followed_up += 1
                except LeadActionRefused as refused:
                    logger.warning("Follow-up of lead %s refused: %s", lead.pk, refused.message)
                    result.failed += 1
