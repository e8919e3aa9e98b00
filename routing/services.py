"""Changes of ownership: routing a new MQL, a manager's reassignment, the reassignment
after an SLA breach. Each writes one Assignment row (the audit of who got the lead and
why), restarts the new owner's clocks and tells the people concerned.

Ownership is not a stage, so no StageChange is written: the Assignment row is its audit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from leads.bulk import insert_rows, update_columns
from leads.models import Lead, StageChange
from leads.roles import SALES_MANAGER, SALES_REP, roles_of
from leads.services import LeadActionRefused
from leads.stages import Stage

from . import assignment, notifications, sla, webhooks
from .assignment import person
from .models import Assignment, ClockKind, Notification, RoutingRule, SlaClock, Team

# Stages in which a lead has an owner who is expected to act, so it can change hands.
REASSIGNABLE_STAGES = (Stage.MQL, Stage.ACCEPTED, Stage.SQL, Stage.NURTURE)

HEADLINES = {
    Assignment.Kind.RULE: "A new MQL was routed to you.",
    Assignment.Kind.ACCOUNT: "A new MQL from an account you already work.",
    Assignment.Kind.MANAGER: "A new MQL came to you: nobody in your team could take it.",
    Assignment.Kind.UNASSIGNED: "A new MQL has no owner: assign it.",
    Assignment.Kind.FOLLOW_UP: "A lead you nurtured is back: its follow-up date has come.",
    Assignment.Kind.DISPUTE: "Marketing disputed a rejection: please decide on this MQL.",
    Assignment.Kind.MANUAL: "A lead was reassigned to you.",
    Assignment.Kind.SLA: "A lead was reassigned to you after an SLA breach.",
}
# Kinds told as a reassignment (to the new owner and the previous one), not a new MQL.
HANDED_OVER = (Assignment.Kind.MANUAL, Assignment.Kind.SLA)


@dataclass
class _HandOver:
    """One change of owner, already written on the lead, to record and tell."""

    lead: Lead
    previous: Any
    owner: Any
    kind: str
    lines: list[str]
    by: Any = None
    team: Team | None = None
    rule: RoutingRule | None = None
    note: str = ""
    # the previous owner already hears of it: the breach notice that caused the hand-over
    # goes to them and says where the lead went (one event, one notification a person)
    previous_told: bool = False


def _set_owners(items: Sequence[_HandOver]) -> list[Lead]:
    """Give the leads (locked by the caller) their new owners, in memory; returns the
    leads that changed, which _record_hand_overs writes."""
    now = timezone.now()
    moved = []
    for item in items:
        lead = item.lead
        owner = item.owner.pk if item.owner is not None else None
        # the team of its latest routing with a team, as its Assignment rows say
        team = item.team.pk if item.team is not None else lead.routed_team_id
        if lead.owner_id != owner or lead.routed_team_id != team:
            # A plain column update: the stage is protected and already saved by the
            # caller. Nobody found clears the owner: the lead waits for one, visibly, and
            # is not left with a rep who said no to it before.
            lead.owner = item.owner
            if item.team is not None:
                lead.routed_team = item.team
            lead.updated_at = now
            moved.append(lead)
    return moved


def _hand_over(
    lead: Lead,
    *,
    owner: Any,
    kind: str,
    at: dt.datetime,
    lines: list[str],
    by: Any = None,
    team: Team | None = None,
    rule: RoutingRule | None = None,
    note: str = "",
) -> Assignment:
    """Record the owner (the lead is locked by the caller), restart the owner's clock,
    notify. Inside the caller's transaction."""
    previous = lead.owner if lead.owner_id else None
    item = _HandOver(lead, previous, owner, kind, lines, by=by, team=team, rule=rule, note=note)
    return _record_hand_overs([item], at=at)[0]


def _record_hand_overs(
    items: Sequence[_HandOver],
    *,
    at: dt.datetime,
    running: dict[int, SlaClock] | None = None,
) -> list[Assignment]:
    """The new owners: one Assignment row each, the new owners' clocks restarted, the
    owners and the leads' sla_due_at written (one UPDATE of the leads), the people
    concerned told — one write of each kind for any number of leads. `running`: the
    owners' clocks the caller holds (see sla.restart_owner_clocks_many)."""
    moved = _set_owners(items)
    records = insert_rows(
        [
            Assignment(
                lead=item.lead,
                kind=item.kind,
                owner=item.owner,
                previous_owner=item.previous if item.previous != item.owner else None,
                team=item.team,
                rule=item.rule,
                explanation=item.lines,
                note=item.note,
                mql_cycle=item.lead.mql_cycle,
                by=item.by,
                at=at,
            )
            for item in items
        ]
    )
    owned = [item.lead for item in items if item.owner is not None]
    clocks = sla.restart_owner_clocks_many(leads=owned, at=at, running=running)
    due_moved = sla.sync_due_many(owned, write=False)
    # one write of the leads' new owners and due times (each rewrites the row's indexes)
    written = {lead.pk: lead for lead in [*moved, *due_moved]}
    update_columns(list(written.values()), ["owner", "routed_team", "updated_at", "sla_due_at"])
    _tell(items, records, clocks, at)
    # outbound webhooks, after commit
    webhooks.queue_event(webhooks.LEAD_ASSIGNED, *[record.pk for record in records])
    return records


def _tell(
    items: Sequence[_HandOver],
    records: Sequence[Assignment],
    clocks: dict[int, SlaClock],
    at: dt.datetime,
) -> None:
    handed = [record.kind in HANDED_OVER for record in records]
    contexts = notifications.new_mql_contexts(
        [
            notifications.NewOwner(
                lead=item.lead,
                headline=HEADLINES[record.kind],
                explanation=record.explanation,
                due=sla.due_text(clocks.get(item.lead.pk)),
                # a reassignment's notification does not show the account's other leads
                other_leads=not handed_over,
            )
            for item, record, handed_over in zip(items, records, handed, strict=True)
        ],
        now=at,
    )
    managers: list[Any] | None = None
    messages: list[notifications.Message] = []
    for item, record, context, handed_over in zip(items, records, contexts, handed, strict=True):
        lead, previous = item.lead, item.previous
        context["note"] = record.note
        context["by_name"] = person(record.by) if record.by else "handoff"
        kind = Notification.Kind.REASSIGNED if handed_over else Notification.Kind.NEW_MQL
        if record.owner is not None:
            messages.append(notifications.Message(record.owner, kind, lead, context))
        else:
            # nobody to route to: somebody must still hear of the lead
            if managers is None:
                managers = notifications.sales_managers()
            for manager in managers:
                messages.append(notifications.Message(manager, kind, lead, context))
        if (
            handed_over
            and previous is not None
            and previous != record.owner
            and not item.previous_told
        ):
            taken = {
                **notifications.lead_context(lead),
                "headline": f"This lead now belongs to {person(record.owner)}.",
                "explanation": record.explanation,
                "note": record.note,
                "by_name": context["by_name"],
            }
            messages.append(
                notifications.Message(previous, Notification.Kind.REASSIGNED, lead, taken)
            )
    notifications.notify(messages, at=at)


# --- called from the lifecycle (routing.sla.on_stage_change) -----------------------------


def _last_entry(lead: Lead, stage: str, exclude: StageChange) -> StageChange | None:
    return (
        StageChange.objects.filter(lead=lead, to_stage=stage)
        .exclude(pk=exclude.pk)
        .select_related("actor", "reason")
        .order_by("-at", "-pk")
        .first()
    )


def _kept_owner(lead: Lead, change: StageChange) -> tuple[_HandOver | None, list[str]]:
    """A new MQL that goes back to a person rather than through the rules: a disputed
    rejection (to whoever decides it), a nurtured lead back to its rep. Else None, with
    the lines that explain why the rules decide."""
    at = change.at
    previous = lead.owner if lead.owner_id else None
    if change.transition == "dispute":
        rejection = _last_entry(lead, Stage.REJECTED, change)
        lines = []
        if rejection is not None:
            lines.append(
                f"Rejected by {person(rejection.actor) or 'handoff'}"
                + (f": {rejection.reason}." if rejection.reason_id else ".")
            )
        lines.append(f"Marketing disputed the rejection: {change.note}")
        team = assignment.team_of(lead)
        if lead.owner_id is not None:
            role = f", manager of {team}," if team and team.manager_id == lead.owner_id else ""
            lines.append(f"{person(lead.owner)}{role} decides.")
        return _HandOver(lead, previous, lead.owner, Assignment.Kind.DISPUTE, lines, team=team), []

    if change.from_stage == Stage.NURTURE and lead.owner_id is not None:
        nurtured = _last_entry(lead, Stage.NURTURE, change)
        # Nurtured by its rep (not recycled by marketing): back to the same rep.
        if nurtured is not None and nurtured.transition == "nurture":
            owner = lead.owner
            follow_up = nurtured.details.get("follow_up_on", "")
            day = timezone.localdate(at)
            if owner.is_active and not assignment.out_of_office_ids([owner.pk], day):
                lines = [f"{person(owner)} nurtured this lead until {follow_up}: back to them."]
                item = _HandOver(
                    lead,
                    previous,
                    owner,
                    Assignment.Kind.FOLLOW_UP,
                    lines,
                    team=assignment.team_of(lead),
                )
                return item, []
            return None, [
                f"{person(owner)} nurtured this lead until {follow_up} but is not available: "
                "routed by the rules instead."
            ]
    return None, []


def on_mqls(pairs: Sequence[tuple[Lead, StageChange]]) -> list[Assignment]:
    """Leads that just became MQLs at one time (locked, in the transitions' transaction):
    give each an owner and say why. The ones the rules decide are routed together
    (assignment.route_many, in order), and all are recorded and told in one write of
    each kind."""
    if not pairs:
        return []
    at = pairs[0][1].at
    items: list[_HandOver | None] = []
    routed: list[tuple[int, Lead, list[str]]] = []
    for index, (lead, change) in enumerate(pairs):
        item, lines = _kept_owner(lead, change)
        items.append(item)
        if item is None:
            routed.append((index, lead, lines))
    decisions = assignment.route_many(leads=[lead for _, lead, _ in routed], at=at)
    for index, lead, lines in routed:
        routing = decisions[lead.pk]
        items[index] = _HandOver(
            lead,
            lead.owner if lead.owner_id else None,
            routing.owner,
            routing.kind,
            lines + routing.lines,
            team=routing.team,
            rule=routing.rule,
        )
    done = [item for item in items if item is not None]
    return _record_hand_overs(done, at=at)


def on_mql(*, lead: Lead, change: StageChange) -> Assignment:
    """A lead just became an MQL (lead locked, in the transition's transaction): give it
    an owner and say why."""
    return on_mqls([(lead, change)])[0]


def on_rejected(*, lead: Lead, change: StageChange, disposition: SlaClock | None) -> None:
    """Tell marketing ops: a rejected lead is theirs to recycle, dispute or disqualify."""
    context = {
        **notifications.lead_context(lead),
        "rejected_by": person(change.actor) if change.actor_id else "handoff (system)",
        "reason": str(change.reason) if change.reason_id else "",
        "note": change.note,
        "due": sla.due_text(disposition),
    }
    notifications.notify(
        [
            notifications.Message(user, Notification.Kind.LEAD_REJECTED, lead, context)
            for user in notifications.marketing_ops()
        ],
        at=change.at,
    )


# --- reassignment ---------------------------------------------------------------------


def _may_reassign(lead: Lead, by: Any) -> bool:
    """Any sales manager (as for every other action on a rep's lead), or the manager of
    the lead's team."""
    if SALES_MANAGER in roles_of(by):
        return True
    team = assignment.team_of(lead)
    return by is not None and team is not None and team.manager_id == by.pk


def reassign(
    *, lead: Lead, to: Any, by: Any, note: str = "", at: dt.datetime | None = None
) -> Assignment:
    """A manager gives the lead to `to`. The new owner gets a full decision (in mql) or
    first-touch (in accepted) target from now; the old clock is closed as handed over,
    or breached if it already was."""
    at = at or timezone.now()
    note = (note or "").strip()
    with transaction.atomic():
        try:
            locked = (
                Lead.objects.select_for_update(of=("self",))
                .select_related("account", "owner", "product_line", "criteria_set")
                .get(pk=lead.pk)
            )
        except Lead.DoesNotExist as exc:
            raise LeadActionRefused("gone", "This lead no longer exists.") from exc
        if not _may_reassign(locked, by):
            raise LeadActionRefused(
                "permission", "Only a sales manager or the team's manager can reassign leads."
            )
        if locked.archived_at is not None or locked.stage not in REASSIGNABLE_STAGES:
            raise LeadActionRefused(
                "not_allowed",
                f"A lead in stage {locked.get_stage_display()} cannot be reassigned.",
            )
        if to is None or not to.is_active or not roles_of(to) & {SALES_REP, SALES_MANAGER}:
            raise LeadActionRefused(
                "owner_invalid", "Choose an active sales rep or manager.", field="to"
            )
        if locked.owner_id == to.pk:
            raise LeadActionRefused(
                "owner_unchanged", f"{person(to)} already owns this lead.", field="to"
            )
        lines = [f"{person(by)} reassigned the lead from {person(locked.owner)} to {person(to)}."]
        day = timezone.localdate(at)
        if assignment.out_of_office_ids([to.pk], day):
            lines.append(f"Note: {person(to)} is out of office today.")
        team = assignment.team_of_user(to) or assignment.team_of(locked)
        return _hand_over(
            locked,
            owner=to,
            kind=Assignment.Kind.MANUAL,
            at=at,
            lines=lines,
            by=by,
            team=team,
            note=note,
        )


def reassign_after_breaches(
    *, breaches: Sequence[tuple[Lead, SlaClock]], at: dt.datetime
) -> dict[int, Assignment]:
    """For each lead whose clock ran out, the next rep by the routing rules (never the one
    who breached); returns the assignments by lead pk, without the leads nobody else can
    take. Called by the sweep with the leads locked; the sweep's breach notice tells the
    clock's owner where the lead went, so they get no second notice of the hand-over.

    The routing decisions are taken lead after lead (assignment.route_many: each sees
    the round robin and the load the earlier ones left, so nobody goes past capacity);
    the owners, audit rows, clocks and notifications are then written together."""
    routings = assignment.route_many(
        leads=[lead for lead, _ in breaches],
        at=at,
        exclude={lead.pk: [lead.owner_id] if lead.owner_id else [] for lead, _ in breaches},
    )
    items: list[_HandOver] = []
    for lead, clock in breaches:
        routing = routings[lead.pk]
        if routing.owner is None or routing.owner.pk == lead.owner_id:
            continue
        what = "decision" if clock.kind == ClockKind.DECISION else "first touch"
        lines = [
            f"{person(clock.owner) or 'The owner'} did not act in time: the {what} SLA "
            f"({clock.policy.name}) ran out at {sla.due_text(clock)}.",
            *routing.lines,
        ]
        items.append(
            _HandOver(
                lead,
                lead.owner if lead.owner_id else None,
                routing.owner,
                Assignment.Kind.SLA,
                lines,
                team=routing.team,
                rule=routing.rule,
                # the sweep tells the clock's owner of the breach, with this action
                previous_told=clock.owner_id is not None and clock.owner_id == lead.owner_id,
            )
        )
    # the breached clock is the one each new owner's restarts: the sweep holds it
    records = _record_hand_overs(items, at=at, running={lead.pk: c for lead, c in breaches})
    return {item.lead.pk: record for item, record in zip(items, records, strict=True)}


# --- notifications --------------------------------------------------------------------


def mark_read(
    *, user: Any, notification_ids: Iterable[int] | None = None, at: dt.datetime | None = None
) -> int:
    """Mark the user's notifications (all, or the given ones) read; returns how many."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    return unread.update(read_at=at or timezone.now())
