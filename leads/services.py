"""Every use case that changes a lead. Views, API, admin and tasks call these functions,
never the model's transition methods.

Each transition: one transaction, the lead row locked, the caller's view of the stage
checked (so a concurrent change is reported, not overwritten), permission, input and
guards checked with a readable sentence on refusal, the transition applied and saved,
one audit row written.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django_fsm import ConcurrentTransition

from config.beside import run_beside
from qualification import scoring
from qualification.free_mail import is_free_mail
from qualification.models import ChecklistAnswer, ChecklistItem, CriteriaSet, ProductLine, Reason
from qualification.selectors import (
    active_criteria_for,
    checklist_states,
    fast_lane_labels,
    forget_checklist,
    rules_for,
)

from . import guards
from .bulk import attach_related, insert_rows, update_columns
from .milestones import note_stage_change
from .models import Account, EngagementEvent, Lead, StageChange, Touch
from .selectors import as_scoring_events, lead_facts, scoring_events, scoring_events_of
from .stages import OPEN_STAGES, Stage


class LeadActionRefused(Exception):
    """A refused action, as a code a program can branch on and a sentence a person reads.

    Nothing was changed when this is raised.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}


# Verb phrases for the sentence "A lead in stage X cannot be <verb>."
TRANSITION_VERBS = {
    "engage": "marked engaged",
    "qualify_mql": "made an MQL",
    "accept": "accepted",
    "reject": "rejected",
    "qualify_sql": "qualified to SQL",
    "nurture": "moved to nurture",
    "convert": "converted to an opportunity",
    "recycle": "recycled",
    "dispute": "disputed",
    "disqualify": "disqualified",
}

# Which reason kind each "no" needs.
REASON_KIND = {
    "reject": Reason.Kind.REJECTION,
    "nurture": Reason.Kind.NURTURE,
    "disqualify": Reason.Kind.DISQUALIFICATION,
}

# System reasons (recorded by handoff itself, never offered to people).
RECYCLE_LIMIT_REASON = "recycle-limit-reached"


@dataclass(frozen=True)
class _Input:
    reason: Reason | None = None
    note: str = ""
    details: dict[str, Any] | None = None


@functools.cache
def _transitions_of(model: type[Lead]) -> dict[tuple[str, str], Any]:
    """The model's stage transitions by (name, source stage), fixed with the class (a
    batch looks up hundreds: django-fsm walks them all for each)."""
    field = model._meta.get_field("stage")
    return {(t.name, t.source): t for t in field.get_all_transitions(model)}


def _transition_for(lead: Lead, name: str):
    return _transitions_of(type(lead)).get((name, lead.stage))


def available_transitions(lead: Lead, user: Any) -> list[str]:
    """Names of the transitions `user` could take on `lead` now (guards and permission
    met), for pages to show only buttons that would succeed."""
    return [t.name for t in lead.get_available_user_stage_transitions(user)]


def blocked_transitions(lead: Lead, user: Any) -> list[tuple[str, str]]:
    """Transitions this user could take from this stage but whose guard says not yet,
    with the guard's sentence: the page tells the rep what is missing."""
    blocked = []
    for t in lead.get_all_stage_transitions():
        if t.source != lead.stage or not t.has_perm(lead, user):
            continue
        for condition in t.conditions:
            message = condition.failure(lead)
            if message:
                blocked.append((t.name, message))
                break
    return blocked


def _checklist_snapshots(leads: list[Lead]) -> dict[int, list[dict[str, Any]]]:
    return {
        pk: [
            {
                "item": row.item_id,
                "question": row.question,
                "must_have": row.must_have,
                "answer": row.answer,
                "evidence": row.evidence,
            }
            for row in rows
        ]
        for pk, rows in checklist_states(leads).items()
    }


def _resolve_reason(
    name: str, reason: Reason | str | None, note: str, *, allow_system: bool = False
) -> Reason:
    kind = REASON_KIND[name]
    kind_label = Reason.Kind(kind).label.lower()
    if reason in (None, ""):
        raise LeadActionRefused("reason_required", f"Choose a {kind_label} reason.", field="reason")
    if not isinstance(reason, Reason):
        found = Reason.objects.filter(code=reason).first()
        if found is None:
            raise LeadActionRefused(
                "reason_unknown", f"There is no reason with the code '{reason}'.", field="reason"
            )
        reason = found
    if not reason.active:
        raise LeadActionRefused(
            "reason_inactive",
            f"The reason '{reason.label}' is no longer in use; choose another.",
            field="reason",
        )
    if reason.kind != kind:
        raise LeadActionRefused(
            "reason_kind",
            f"'{reason.label}' is a {reason.get_kind_display().lower()} reason; "
            f"choose a {kind_label} reason.",
            field="reason",
        )
    if reason.system and not allow_system:
        raise LeadActionRefused(
            "reason_system",
            f"'{reason.label}' is recorded by handoff itself; choose another reason.",
            field="reason",
        )
    if reason.requires_note and not note.strip():
        raise LeadActionRefused(
            "note_required", f"'{reason.label}' needs a note saying why.", field="note"
        )
    return reason


def _refusal(lead: Lead, name: str, by: Any) -> LeadActionRefused | None:
    """Why the (locked) lead cannot take transition `name` now, or None: the stage,
    the person's permission (none is checked for handoff itself, `by` None), the guards."""
    transition = _transition_for(lead, name)
    if transition is None:
        return LeadActionRefused(
            "not_allowed",
            f"A lead in stage {lead.get_stage_display()} cannot be {TRANSITION_VERBS[name]}.",
        )
    if by is not None and not transition.has_perm(lead, by):
        return LeadActionRefused(
            "permission",
            guards.PERMISSION_SENTENCES.get(
                transition.permission, "You may not do this on this lead."
            ),
        )
    for condition in transition.conditions:
        message = condition.failure(lead)
        if message:
            return LeadActionRefused(condition.code, message)
    return None


def _run(
    lead: Lead,
    name: str,
    by: Any,
    *,
    data: _Input | None = None,
    at: dt.datetime | None = None,
    method_kwargs: dict[str, Any] | None = None,
) -> StageChange:
    at = at or timezone.now()
    seen_stage = lead.stage
    try:
        with transaction.atomic():
            locked = (
                Lead.objects.select_for_update(of=("self",))
                .select_related("criteria_set", "account")
                .get(pk=lead.pk)
            )
            if locked.stage != seen_stage:
                raise LeadActionRefused(
                    "stale",
                    f"This lead changed while you were looking at it (it is now "
                    f"{locked.get_stage_display()}). Reload and try again.",
                )
            refused = _refusal(locked, name, by)
            if refused is not None:
                raise refused
            (change,) = _apply(
                [locked], name, by, at=at, data=lambda _: data, method_kwargs=method_kwargs
            )
    except ConcurrentTransition as exc:
        raise LeadActionRefused(
            "stale", "This lead was changed by someone else at the same moment. Reload."
        ) from exc
    except Lead.DoesNotExist as exc:
        raise LeadActionRefused("gone", "This lead no longer exists.") from exc
    return change


# The lead's own columns a transition method may change (stage, times, cycle counters,
# follow-up, priority, next step) are found by comparing before and after.
def _columns(lead: Lead) -> dict[str, Any]:
    return {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields}


def _apply(
    leads: list[Lead],
    name: str,
    by: Any,
    *,
    at: dt.datetime,
    data: Callable[[Lead], _Input | None] | None = None,
    method_kwargs: dict[str, Any] | None = None,
) -> list[StageChange]:
    """Take transition `name` on leads that are locked and checked (`_refusal`), in the
    caller's transaction: apply it, save, one audit row each, then clocks and routing and
    the outbound webhooks. The same few writes for a batch as for one lead (plus the
    routing of each new MQL)."""
    if not leads:
        return []
    snapshots = _checklist_snapshots(leads)
    changes: list[StageChange] = []
    changed: set[str] = set()
    for lead in leads:
        before = _columns(lead)
        from_stage = lead.stage
        getattr(lead, name)(at=at, **(method_kwargs or {}))
        # the first time it reached this stage, kept on the lead for the reports
        note_stage_change(
            lead,
            from_stage,
            lead.stage,
            at,
            fit_score=lead.fit_score,
            engagement_score=lead.engagement_score,
            criteria_set_id=lead.criteria_set_id,
        )
        changed |= {f for f, value in _columns(lead).items() if before[f] != value}
        item = (data(lead) if data else None) or _Input()
        changes.append(
            StageChange(
                lead=lead,
                from_stage=from_stage,
                to_stage=lead.stage,
                transition=name,
                actor=by,
                at=at,
                reason=item.reason,
                note=item.note,
                checklist_snapshot=snapshots[lead.pk],
                fit_score=lead.fit_score,
                engagement_score=lead.engagement_score,
                criteria_set=lead.criteria_set,
                details=item.details or {},
            )
        )
    if len(leads) == 1:
        leads[0].save()  # with django-fsm's check that the stage did not move meanwhile
    else:
        # the rows are locked by the caller, so the stage cannot have moved meanwhile
        for lead in leads:
            lead.updated_at = timezone.now()
        update_columns(leads, sorted(changed | {"updated_at"}))
        for lead in leads:
            lead._update_initial_state()  # django-fsm: the stage as now saved
    insert_rows(changes)
    # SLA clocks and routing, in this transaction: a transition never commits without
    # its clocks (and, for a new MQL, its owner).
    from routing.sla import on_stage_changes

    on_stage_changes(list(zip(leads, changes, strict=True)))
    # outbound webhooks: queued with transaction.on_commit, sent by Celery
    from routing.webhooks import STAGE_CHANGED, queue_event

    queue_event(STAGE_CHANGED, *[change.pk for change in changes])
    return changes


# --- the transitions ---------------------------------------------------------------


def engage(*, lead: Lead, by: Any = None, at: dt.datetime | None = None) -> StageChange:
    return _run(lead, "engage", by, at=at)


def _mql_input(lead: Lead) -> _Input:
    return _Input(details={"fast_lane": lead.fast_lane_reason} if lead.fast_lane_reason else None)


def qualify_mql(*, lead: Lead, by: Any = None, at: dt.datetime | None = None) -> StageChange:
    return _run(lead, "qualify_mql", by, data=_mql_input(lead), at=at)


def accept(*, lead: Lead, by: Any, at: dt.datetime | None = None) -> StageChange:
    return _run(lead, "accept", by, at=at)


def reject(
    *,
    lead: Lead,
    by: Any,
    reason: Reason | str | None,
    note: str = "",
    at: dt.datetime | None = None,
    allow_system_reason: bool = False,
) -> StageChange:
    reason = _resolve_reason("reject", reason, note, allow_system=allow_system_reason)
    return _run(lead, "reject", by, data=_Input(reason=reason, note=note.strip()), at=at)


def qualify_sql(
    *, lead: Lead, by: Any, next_step: str, note: str = "", at: dt.datetime | None = None
) -> StageChange:
    next_step = (next_step or "").strip()
    if not next_step:
        raise LeadActionRefused(
            "next_step_required",
            "Record the agreed next step before qualifying to SQL.",
            field="next_step",
        )
    return _run(
        lead,
        "qualify_sql",
        by,
        data=_Input(note=note.strip(), details={"next_step": next_step}),
        at=at,
        method_kwargs={"next_step": next_step},
    )


def nurture(
    *,
    lead: Lead,
    by: Any,
    reason: Reason | str | None,
    follow_up_on: dt.date | None,
    note: str = "",
    at: dt.datetime | None = None,
) -> StageChange:
    reason = _resolve_reason("nurture", reason, note)
    today = timezone.localdate(at) if at else timezone.localdate()
    if follow_up_on is None:
        raise LeadActionRefused(
            "follow_up_required",
            "Choose a follow-up date: on that date the lead comes back as an MQL.",
            field="follow_up_on",
        )
    if follow_up_on <= today:
        raise LeadActionRefused(
            "follow_up_in_past", "The follow-up date must be after today.", field="follow_up_on"
        )
    return _run(
        lead,
        "nurture",
        by,
        data=_Input(
            reason=reason, note=note.strip(), details={"follow_up_on": follow_up_on.isoformat()}
        ),
        at=at,
        method_kwargs={"follow_up_on": follow_up_on},
    )


def convert(*, lead: Lead, by: Any, note: str = "", at: dt.datetime | None = None) -> StageChange:
    return _run(lead, "convert", by, data=_Input(note=note.strip()), at=at)


def recycle(*, lead: Lead, by: Any, note: str = "", at: dt.datetime | None = None) -> StageChange:
    """Rejected -> nurture, by marketing. Past the criteria set's recycle limit the lead is
    disqualified instead (the returned row says which happened)."""
    try:
        return _run(lead, "recycle", by, data=_Input(note=note.strip()), at=at)
    except LeadActionRefused as refused:
        if refused.code != guards.under_recycle_limit.code:
            raise
        reason = Reason.objects.get(code=RECYCLE_LIMIT_REASON)
        return _run(
            lead,
            "disqualify",
            by,
            data=_Input(reason=reason, note=refused.message),
            at=at,
        )


def dispute(
    *, lead: Lead, by: Any, note: str, owner: Any = None, at: dt.datetime | None = None
) -> StageChange:
    note = (note or "").strip()
    if not note:
        raise LeadActionRefused(
            "note_required",
            "Say why the rejection is disputed: the sales manager reads this note.",
            field="note",
        )
    if owner is None:
        # the manager of the rejecting rep's team decides (None: no team, keep the rep)
        from routing.assignment import dispute_owner

        owner = dispute_owner(lead)
    details = {"owner": owner.pk} if owner is not None else None
    return _run(
        lead,
        "dispute",
        by,
        data=_Input(note=note, details=details),
        at=at,
        method_kwargs={"owner": owner},
    )


def disqualify(
    *,
    lead: Lead,
    by: Any,
    reason: Reason | str | None,
    note: str = "",
    at: dt.datetime | None = None,
) -> StageChange:
    reason = _resolve_reason("disqualify", reason, note)
    return _run(lead, "disqualify", by, data=_Input(reason=reason, note=note.strip()), at=at)


TRANSITIONS = {
    "engage": engage,
    "qualify_mql": qualify_mql,
    "accept": accept,
    "reject": reject,
    "qualify_sql": qualify_sql,
    "nurture": nurture,
    "convert": convert,
    "recycle": recycle,
    "dispute": dispute,
    "disqualify": disqualify,
}


# --- other changes to a lead ----------------------------------------------------------


def _require_sales_access(lead: Lead, by: Any) -> None:
    if not guards.is_owner_or_manager(lead, by):
        raise LeadActionRefused(
            "permission", guards.PERMISSION_SENTENCES[guards.is_owner_or_manager]
        )


def log_touch(
    *,
    lead: Lead,
    by: Any,
    kind: str,
    outcome: str,
    note: str = "",
    occurred_at: dt.datetime | None = None,
) -> Touch:
    _require_sales_access(lead, by)
    now = timezone.now()
    occurred_at = occurred_at or now
    if kind not in Touch.Kind.values:
        raise LeadActionRefused("touch_kind", "Choose call, e-mail or meeting.", field="kind")
    if outcome not in Touch.Outcome.values:
        raise LeadActionRefused("touch_outcome", "Choose the touch's outcome.", field="outcome")
    if occurred_at > now + dt.timedelta(minutes=5):
        raise LeadActionRefused(
            "touch_in_future", "A touch cannot be logged in the future.", field="occurred_at"
        )
    if not lead.is_open:
        raise LeadActionRefused("closed", "This lead is closed; touches can no longer be logged.")
    from routing.sla import on_touch

    with transaction.atomic():
        # the lead first, then its touch and clocks: the lock order every writer keeps
        Lead.objects.select_for_update().filter(pk=lead.pk).values_list("pk", flat=True).get()
        touch = Touch.objects.create(
            lead=lead, kind=kind, outcome=outcome, note=note.strip(), by=by, occurred_at=occurred_at
        )
        on_touch(lead=lead, touch=touch)  # stops the first-touch clock
    return touch


def answer_checklist(
    *,
    lead: Lead,
    by: Any,
    item: ChecklistItem,
    answer: str,
    evidence: str = "",
    at: dt.datetime | None = None,
) -> ChecklistAnswer:
    """Record an answer; the latest per item counts and earlier ones stay as history."""
    _require_sales_access(lead, by)
    if item.criteria_set_id != lead.criteria_set_id:
        raise LeadActionRefused(
            "checklist_item", "That question is not on this lead's checklist.", field="item"
        )
    if answer not in ChecklistAnswer.Answer.values:
        raise LeadActionRefused(
            "checklist_answer", "Answer confirmed, not met or unknown.", field="answer"
        )
    if not lead.is_open:
        raise LeadActionRefused("closed", "This lead is closed; its checklist is final.")
    forget_checklist(lead)
    return ChecklistAnswer.objects.create(
        lead=lead,
        item=item,
        answer=answer,
        evidence=evidence.strip(),
        answered_by=by,
        answered_at=at or timezone.now(),
    )


def archive(*, lead: Lead, by: Any) -> Lead:
    """Leads with history are never deleted; archiving hides them and frees the e-mail."""
    if not guards.is_marketing_ops(lead, by):
        raise LeadActionRefused("permission", guards.PERMISSION_SENTENCES[guards.is_marketing_ops])
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.archived_at is None:
            locked.archived_at = timezone.now()
            locked.save(update_fields=["archived_at", "updated_at"])
    return locked


# --- intake: leads and engagement -----------------------------------------------------

# How many of an account's best contacts one round of the account-MQL search reads.
ACCOUNT_CANDIDATES = 20

# Stages in which scoring may still make a lead an MQL (and its criteria version follows
# the active one); from MQL on, the version it was qualified under is frozen.
PRE_MQL_STAGES = (Stage.NEW, Stage.ENGAGED, Stage.NURTURE)

LEAD_FIELDS = (
    "first_name",
    "last_name",
    "title",
    "role_category",
    "phone",
    "country",
    "source",
    "campaign",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
)
# Where the lead came from is set by its first arrival and kept (the reports credit
# channels and campaigns by it); later submissions add engagement events instead.
ATTRIBUTION_FIELDS = (
    "source",
    "campaign",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
)
ACCOUNT_FIELDS = ("industry", "segment", "employee_count", "region")


@dataclass(frozen=True)
class IngestResult:
    lead: Lead
    created: bool


@dataclass(frozen=True)
class EventResult:
    """One event's outcome: stored (`created`), a repeat of a stored one, or `refused`
    (its lead is not there: no event and no lead)."""

    event: EngagementEvent | None
    created: bool
    lead: Lead | None
    refused: LeadActionRefused | None = None


def normalise_email(value: str) -> str:
    """Lower-cased and trimmed. Plus-addressing is kept: "ann+rfq@x.com" is its own address."""
    email = (value or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise LeadActionRefused(
            "invalid_email", f"'{value}' is not a valid e-mail address.", field="email"
        ) from exc
    return email


def normalise_domain(value: str) -> str:
    """ "https://www.ACME.com/en/" -> "acme.com", so one company is one account."""
    domain = (value or "").strip().lower()
    for prefix in ("https://", "http://"):
        if domain.startswith(prefix):
            domain = domain[len(prefix) :]
    domain = domain.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].rstrip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    return domain


def _account_for(payload: dict[str, Any], email: str) -> Account | None:
    domain = normalise_domain(payload.get("website") or payload.get("domain") or "")
    if not domain:
        email_domain = email.rsplit("@", 1)[1]
        if is_free_mail(email_domain):
            return None  # a person's mailbox says nothing about their company
        domain = email_domain
    defaults = {"name": (payload.get("company") or "").strip() or domain}
    for field in ACCOUNT_FIELDS:
        if payload.get(field) not in (None, ""):
            defaults[field] = payload[field]
    if payload.get("country"):
        defaults["country"] = payload["country"]
    try:
        with transaction.atomic():
            account, created = Account.objects.get_or_create(domain=domain, defaults=defaults)
    except IntegrityError:  # the same new domain ingested concurrently
        account, created = Account.objects.get(domain=domain), False
    if not created:
        # fill what we did not know; never overwrite what is known with nothing
        changed = [
            f
            for f, v in defaults.items()
            if f != "name" and v not in (None, "") and getattr(account, f) in (None, "")
        ]
        for f in changed:
            setattr(account, f, defaults[f])
        if changed:
            account.save(update_fields=[*changed, "updated_at"])
            # its other contacts' facts changed too (this one is rescored with the form)
            rescore_after_edit(Lead.objects.filter(account=account))
    return account


def _current_criteria(lead: Lead) -> CriteriaSet | None:
    if lead.stage not in PRE_MQL_STAGES:
        return lead.criteria_set
    current = lead.criteria_set
    if (
        current is not None
        and current.status == CriteriaSet.Status.ACTIVE
        and current.product_line_id == lead.product_line_id
    ):
        return current  # still the active version (publishing retires it): no query
    return active_criteria_for(lead.product_line_id)


def compute_score(
    lead: Lead,
    now: dt.datetime,
    events: list[scoring.Event] | None = None,
    facts: dict[str, Any] | None = None,
) -> scoring.Score:
    """The lead's score under its criteria version, with the explanation lines (`facts`:
    its lead_facts, where the caller has them already)."""
    criteria = lead.criteria_set
    if criteria is None:
        return scoring.Score(fit=0, engagement=0, lines=())
    if events is None:
        events = scoring_events(lead)
    return scoring.score(
        lead_facts(lead) if facts is None else facts,
        events,
        rules_for(criteria),
        now=now,
        half_life_days=criteria.engagement_half_life_days,
    )


# where _advance keeps a lead's score on the lead object: (when, criteria version, the
# events it was computed from, the score), so that routing's notification of a new MQL
# shows the score just computed rather than reading and computing it again
_SCORED = "_scored_at"


def scores_at(
    leads: list[Lead], now: dt.datetime
) -> dict[int, tuple[list[scoring.Event], scoring.Score]]:
    """The leads' scoring events (newest first) and score at `now`, by lead id: as kept
    by the rescoring of this moment (_advance) where the lead still stands as scored,
    else read (one query for all the others) and computed."""
    out: dict[int, tuple[list[scoring.Event], scoring.Score]] = {}
    missing = []
    for lead in leads:
        kept = lead.__dict__.get(_SCORED)
        if (
            kept is not None
            and kept[0] == now
            and kept[1] == lead.criteria_set_id
            and (kept[3].fit, kept[3].engagement) == (lead.fit_score, lead.engagement_score)
        ):
            out[lead.pk] = (kept[2], kept[3])
        else:
            missing.append(lead)
    history = scoring_events_of(missing) if missing else {}
    for lead in missing:
        out[lead.pk] = (history[lead.pk], compute_score(lead, now, events=history[lead.pk]))
    return out


def _must_haves_pass(lead: Lead, facts: dict[str, Any] | None = None) -> tuple[bool, list[str]]:
    if lead.criteria_set is None:
        return False, []
    facts = lead_facts(lead) if facts is None else facts
    return scoring.must_haves_pass(facts, rules_for(lead.criteria_set))


def ready_for_handoff(lead: Lead, facts: dict[str, Any] | None = None) -> bool:
    """The lead has every handoff field of its criteria version and passes its must-have
    fit rules: what its account's MQL needs of a contact, besides its stage. Kept on the
    lead by each scoring as `handoff_blocked` (its opposite)."""
    return (
        lead.criteria_set is not None
        and not guards._missing_handoff_fields(lead)
        and _must_haves_pass(lead, facts)[0]
    )


def _scored(
    lead: Lead, now: dt.datetime, events: list[scoring.Event]
) -> tuple[scoring.Score, bool]:
    """A scoring: the lead's score and whether it is blocked from handoff, from one
    reading of its facts (each batch and the nightly refresh score thousands)."""
    facts = lead_facts(lead)
    return compute_score(lead, now, events, facts), not ready_for_handoff(lead, facts)


def _advance(leads: list[Lead], kinds: dict[int, set[str]], now: dt.datetime) -> dict[int, Lead]:
    """The automatic part of the lifecycle for locked leads that were just ingested or
    got events (`kinds`: the kinds of their new events): follow the active criteria
    version (before MQL), rescore, then new -> engaged on a first event, a fast lane,
    MQL where the definition is met, and account MQLs. Never raises for a lead that
    simply is not an MQL yet.

    Set-based: one read of the events, one write of the scores, one bulk transition per
    kind of move, however many leads. Returns the leads that may have moved, by id.
    """
    open_leads = [lead for lead in leads if lead.is_open]
    history = scoring_events_of(open_leads)
    for lead in open_leads:
        lead.criteria_set = _current_criteria(lead)
        result, lead.handoff_blocked = _scored(lead, now, history[lead.pk])
        lead.fit_score, lead.engagement_score = result.fit, result.engagement
        lead.updated_at = now
        lead.__dict__[_SCORED] = (now, lead.criteria_set_id, history[lead.pk], result)
    update_columns(
        open_leads,
        ["criteria_set", "fit_score", "engagement_score", "handoff_blocked", "updated_at"],
    )
    moved: dict[int, Lead] = {}
    engaging = [lead for lead in open_leads if lead.stage == Stage.NEW and kinds.get(lead.pk)]
    _apply(engaging, "engage", None, at=now)
    moved.update((lead.pk, lead) for lead in engaging)

    lanes = fast_lane_labels() if any(kinds.values()) else {}
    laned = []
    for lead in open_leads:
        if lead.stage not in PRE_MQL_STAGES or lead.fast_lane_reason:
            continue
        lane = next((lanes[k] for k in sorted(kinds.get(lead.pk, ())) if k in lanes), None)
        if lane and _must_haves_pass(lead)[0]:
            lead.fast_lane_reason = lane
            laned.append(lead)
    update_columns(laned, ["fast_lane_reason", "updated_at"])

    ready = [
        lead
        for lead in open_leads
        if lead.stage in PRE_MQL_STAGES and not _waits_in_nurture(lead, now, history[lead.pk])
    ]
    # the leads that meet the definition become MQLs (the others are left as they are:
    # their score explanation says why), with the account MQLs in the same transition
    # and routing pass; an account with a lead qualifying on its own needs no account MQL
    qualifying = [lead for lead in ready if _refusal(lead, "qualify_mql", None) is None]
    mqls = qualifying + _account_mqls(
        open_leads, now, taken={lead.account_id for lead in qualifying}
    )
    _apply(mqls, "qualify_mql", None, at=now, data=_mql_input)
    moved.update((lead.pk, lead) for lead in mqls)
    return moved


def _waits_in_nurture(lead: Lead, now: dt.datetime, events: list[scoring.Event]) -> bool:
    """A nurtured lead comes back on its follow-up date (routing's sweep) or through a
    fast lane. Recycled by marketing (no date), it needs engagement earned since it
    entered nurture: its old score got it rejected once already."""
    if lead.stage != Stage.NURTURE or lead.fast_lane_reason:
        return False
    if lead.follow_up_on is not None or lead.criteria_set is None:
        return True
    fresh = compute_score(
        lead, now, events=[e for e in events if e.occurred_at >= lead.stage_entered_at]
    )
    return fresh.engagement < lead.criteria_set.engagement_threshold


# What the account-MQL search reads of a contact before choosing it: its ranking, the
# handoff fields and the facts the must-have fit rules look at (lead_facts; its account
# and product line are read apart, once).
_CANDIDATE_FIELDS = (
    "account_id",
    "product_line_id",
    "criteria_set_id",
    "stage",
    "fit_score",
    "engagement_score",
    "free_mail",
    "source",
    *sorted(CriteriaSet.HANDOFF_FIELDS.keys() - {"account", "product_line"}),
)


def _could_be_account_mql(lead: Lead, over: dict[int, tuple[CriteriaSet, int]]) -> bool:
    """The contact is measured against its account's criteria version, has the handoff
    fields and passes the must-have fit rules (its stage and guards are checked when it
    is chosen, under the lock)."""
    criteria = over.get(lead.account_id, (None, 0))[0]
    if criteria is None or lead.criteria_set_id != criteria.pk:
        return False
    lead.criteria_set = criteria
    return ready_for_handoff(lead)


def _account_candidates(
    accounts: dict[int, tuple[CriteriaSet, int]], now: dt.datetime, *, in_time_order: bool = True
) -> QuerySet[Lead]:
    """The contacts of `accounts` that may become their account's MQL: new or engaged,
    not free mail, measured against the account's criteria version (`accounts` maps
    each to it), and not blocked from handoff at their last scoring (the partial index
    lead_account_mql_candidates). `in_time_order`: only contacts whose stage began by
    `now` (their history stays in time order; events recorded late, as in the demo)."""
    if not accounts:
        return Lead.objects.none()
    versions: dict[int, list[int]] = {}
    for account, (criteria, _) in accounts.items():
        versions.setdefault(criteria.pk, []).append(account)
    same_version = Q()
    for criteria_pk, accounts_of_version in versions.items():
        same_version |= Q(account_id__in=accounts_of_version, criteria_set_id=criteria_pk)
    contacts = Lead.objects.filter(
        same_version,
        archived_at__isnull=True,
        stage__in=(Stage.NEW, Stage.ENGAGED),
        free_mail=False,
        handoff_blocked=False,
    )
    return contacts.filter(stage_entered_at__lte=now) if in_time_order else contacts


def _account_mqls(leads: list[Lead], now: dt.datetime, taken: set[int | None]) -> list[Lead]:
    """When an account's summed engagement crosses its criteria set's account threshold,
    its best-fit contact with a complete record is chosen to become the MQL: buying
    groups that never fill in one form are not missed. Accounts already with sales, or
    `taken` (a lead of theirs qualifies now), are left out, and so are accounts without
    a contact that may pass (none not blocked from handoff: one read of an index).
    One grouped read of the other accounts' engagement, a few rounds of candidates; the
    caller makes the MQLs. The chosen leads are locked and checked, with their reason
    written."""
    thresholds: dict[int, tuple[CriteriaSet, int]] = {}
    for lead in leads:
        criteria = lead.criteria_set
        if (
            lead.account_id
            and criteria is not None
            and criteria.account_engagement_threshold is not None
            and lead.stage in PRE_MQL_STAGES
        ):
            thresholds.setdefault(
                lead.account_id, (criteria, criteria.account_engagement_threshold)
            )
    # an account getting sales now needs no account MQL; nor does one without a contact
    # that may become it (found in a partial index): only the others are summed
    thresholds = {account: value for account, value in thresholds.items() if account not in taken}
    if not thresholds:
        return []
    possible = set(
        _account_candidates(thresholds, now, in_time_order=False)
        .values_list("account_id", flat=True)
        .distinct()
        .order_by()
    )
    thresholds = {account: value for account, value in thresholds.items() if account in possible}
    if not thresholds:
        return []
    totals = {
        account: total
        for account, total, with_sales in Lead.objects.filter(
            account_id__in=thresholds, archived_at__isnull=True, stage__in=OPEN_STAGES
        )
        .values_list("account_id")
        .annotate(
            total=Sum("engagement_score"),
            with_sales=Count("pk", filter=Q(stage__in=(Stage.MQL, Stage.ACCEPTED, Stage.SQL))),
        )
        .order_by()
        # an account already with sales needs no account MQL
        if not with_sales
    }
    over = {
        account: (criteria, threshold)
        for account, (criteria, threshold) in thresholds.items()
        if (totals.get(account) or 0) >= threshold
    }
    if not over:
        return []
    # The best candidates of each account first (highest fit, then engagement), a few
    # at a time: a large account may hold thousands of contacts, and the first ones
    # usually decide. A round reads only what the checks look at; each account's
    # contacts are checked best first on their current facts until one passes (the
    # flag they were read by was set at their last scoring), and that one is locked
    # and checked again; the next one is looked at only if it changed meanwhile or
    # another batch holds it (not waited for: that batch may be waiting for a lead this
    # one holds, a deadlock).
    chosen: list[Lead] = []
    ranked = Window(
        RowNumber(),
        partition_by=[F("account_id")],
        order_by=[F("fit_score").desc(), F("engagement_score").desc(), F("pk").asc()],
    )
    # the accounts and product lines the checks look at, read once (contacts share them)
    accounts = Account.objects.in_bulk(list(over))
    product_lines = ProductLine.objects.in_bulk()

    def passing(leads: list[Lead]) -> Iterator[Lead]:
        for lead in leads:
            lead.account = accounts[lead.account_id]
            lead.product_line = product_lines.get(lead.product_line_id)
            if _could_be_account_mql(lead, over):
                yield lead

    seen = 0
    while over:
        contacts = list(
            _account_candidates(over, now)
            .only(*_CANDIDATE_FIELDS)
            .annotate(rank=ranked)
            .filter(rank__gt=seen, rank__lte=seen + ACCOUNT_CANDIDATES)
            .order_by()
        )
        seen += ACCOUNT_CANDIDATES
        rest = {lead.account_id for lead in contacts}
        by_account: dict[int, list[Lead]] = {}
        for lead in sorted(contacts, key=lambda lead: (lead.account_id, lead.rank)):
            by_account.setdefault(lead.account_id, []).append(lead)
        queues = {account: passing(leads) for account, leads in by_account.items()}
        found: list[Lead] = []
        while queues:
            best: dict[int, int] = {}
            for account, candidates in queues.items():
                lead = next(candidates, None)
                if lead is not None:
                    best[account] = lead.pk
            queues = {account: queues[account] for account in best}
            locked = Lead.objects.select_for_update(of=("self",), skip_locked=True).select_related(
                "account", "product_line", "criteria_set"
            )
            for candidate in locked.filter(
                pk__in=list(best.values()), stage__in=(Stage.NEW, Stage.ENGAGED)
            ).order_by("pk"):
                if not _could_be_account_mql(candidate, over):
                    continue
                threshold = over[candidate.account_id][1]
                candidate.account_mql_reason = (
                    f"Account engagement {totals[candidate.account_id]} reached the account "
                    f"threshold of {threshold}"
                )
                if _refusal(candidate, "qualify_mql", None) is not None:
                    continue
                found.append(candidate)
                del over[candidate.account_id]
                del queues[candidate.account_id]
        # routed best first, as they rank
        chosen += sorted(found, key=lambda lead: (-lead.fit_score, -lead.engagement_score, lead.pk))
        # accounts with no candidate left in this round have none at all
        over = {account: value for account, value in over.items() if account in rest}
    for lead in chosen:
        lead.updated_at = now
    update_columns(chosen, ["account_mql_reason", "updated_at"])
    return chosen


def ingest_lead(*, payload: dict[str, Any], at: dt.datetime | None = None) -> IngestResult:
    """Create or update the open lead with this e-mail; match its account by domain.

    Known values are never blanked by an empty one. The lead is rescored and, if the
    definition is met, becomes an MQL.
    """
    now = at or timezone.now()
    email = normalise_email(payload.get("email", ""))
    source = payload.get("source") or ""
    if source and source not in Lead.Source.values:
        raise LeadActionRefused(
            "invalid_source",
            f"Unknown source '{source}'. Use one of: {', '.join(Lead.Source.values)}.",
            field="source",
        )
    role = payload.get("role_category") or ""
    if role and role not in Lead.RoleCategory.values:
        raise LeadActionRefused(
            "invalid_role",
            f"Unknown role '{role}'. Use one of: {', '.join(Lead.RoleCategory.values)}.",
            field="role_category",
        )
    product_line = None
    if payload.get("product_line"):
        product_line = ProductLine.objects.filter(code=payload["product_line"]).first()
        if product_line is None:
            raise LeadActionRefused(
                "invalid_product_line",
                f"Unknown product line '{payload['product_line']}'.",
                field="product_line",
            )

    with transaction.atomic():
        account = _account_for(payload, email)
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("account", "product_line", "criteria_set")
            .filter(email=email, archived_at__isnull=True, stage__in=OPEN_STAGES)
            .first()
        )
        created = lead is None
        if created:
            if not source:
                raise LeadActionRefused(
                    "source_required", "Say where the lead came from (source).", field="source"
                )
            lead = Lead(email=email, created_at=now, stage_entered_at=now)
        for field in LEAD_FIELDS:
            value = payload.get(field)
            if isinstance(value, str):
                value = value.strip()
            if value in (None, ""):
                continue
            if not created and field in ATTRIBUTION_FIELDS and getattr(lead, field):
                continue  # first-touch attribution: a later form does not re-credit the lead
            setattr(lead, field, value)
        if account is not None and lead.account_id is None:
            lead.account = account
        if product_line is not None and (created or lead.stage in PRE_MQL_STAGES):
            lead.product_line = product_line
        lead.free_mail = is_free_mail(email.rsplit("@", 1)[1])
        try:
            with transaction.atomic():
                lead.save()
        except IntegrityError:
            # The same new e-mail arrived twice at once: the other request created it.
            return ingest_lead(payload=payload, at=at)
        lead = _advance([lead], {lead.pk: set()}, now).get(lead.pk, lead)
    return IngestResult(lead=lead, created=created)


@dataclass(frozen=True)
class NewEvent:
    """One engagement event to record (see record_events)."""

    lead: Lead | int  # or its id: a batch from the API names its leads by id
    kind: str
    occurred_at: dt.datetime
    external_id: str | None = None
    url: str = ""
    content_tag: str = ""
    metadata: dict[str, Any] | None = None


# the kinds, as a set (Kind.values builds a new list each time it is read)
EVENT_KINDS = frozenset(EngagementEvent.Kind.values)


def _check_event(item: NewEvent) -> None:
    if item.kind not in EVENT_KINDS:
        raise LeadActionRefused(
            "invalid_event_kind",
            f"Unknown event kind '{item.kind}'. Use one of: "
            f"{', '.join(EngagementEvent.Kind.values)}.",
            field="kind",
        )
    if item.occurred_at is None or timezone.is_naive(item.occurred_at):
        raise LeadActionRefused(
            "naive_time", "The event time needs a time zone.", field="occurred_at"
        )


def record_event(
    *,
    lead: Lead,
    kind: str,
    occurred_at: dt.datetime,
    external_id: str | None = None,
    url: str = "",
    content_tag: str = "",
    metadata: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> EventResult:
    """Store one engagement event and let the lifecycle follow (see record_events)."""
    item = NewEvent(lead, kind, occurred_at, external_id, url, content_tag, metadata)
    (result,) = record_events(events=[item], now=now)
    if result.refused is not None:
        raise result.refused
    return result


def _lead_id(item: NewEvent) -> int:
    return item.lead if isinstance(item.lead, int) else item.lead.pk


def no_open_lead(field: str = "lead") -> LeadActionRefused:
    """An event's lead is archived, gone or was never there."""
    return LeadActionRefused("lead_not_found", "There is no such open lead.", field=field)


def record_events(*, events: list[NewEvent], now: dt.datetime | None = None) -> list[EventResult]:
    """Store engagement events, rescore each lead once, and let the lifecycle follow
    (engaged, fast lane, MQL, account MQL). Idempotent on `external_id`: a repeat, in
    the batch or from before, changes nothing. One result per event, in order; an event
    whose lead is archived or gone is refused, and the others are still taken.

    Set-based so a batch of a thousand events costs a few queries plus work per lead
    whose stage may move, not a transaction per event. A batch holds its leads until it
    commits, and two batches of a thousand random leads nearly always share some: the
    leads another batch holds are taken in a transaction of their own, beside this one
    (config.beside), which waits for the other batch while this one goes on with the
    rest; the request answers once both have committed. Called inside a transaction,
    everything is done in that transaction, the held leads waited for.
    """
    now = now or timezone.now()
    for item in events:
        _check_event(item)
    aside: list[tuple[list[int], Future[list[EventResult | None]]]] = []

    def take_aside(indices: list[int]) -> None:
        batch = [events[i] for i in indices]
        aside.append((indices, run_beside(_record_together, batch, now)))

    # inside a caller's transaction, all of it stays in that transaction (and waits)
    alone = not transaction.get_connection().in_atomic_block
    try:
        taken = _record_together(events, now, take_aside if alone else None)
    finally:
        # the request ends only once the transaction beside it has ended too
        wait([future for _, future in aside])
    results = {i: result for i, result in enumerate(taken) if result is not None}
    for indices, future in aside:
        results.update(zip(indices, future.result(), strict=True))
    return [results[index] for index in range(len(events))]


def _record_together(
    events: list[NewEvent],
    now: dt.datetime,
    take_aside: Callable[[list[int]], None] | None = None,
) -> list[EventResult | None]:
    """record_events in one transaction. With `take_aside`, the events of leads another
    transaction holds are not waited for: their indices are handed to it, at once, and
    their results left None (unless every lead is held: nothing to go on with, so all
    is taken here)."""
    results: list[EventResult | None] = [None] * len(events)
    ids = {_lead_id(item) for item in events}
    external_ids = {
        (item.external_id or "").strip() for item in events if (item.external_id or "").strip()
    }
    handed: set[int] = set()
    try:
        with transaction.atomic():
            # leads locked in primary-key order, so concurrent batches cannot deadlock
            leads = list(
                Lead.objects.select_for_update(skip_locked=take_aside is not None)
                .filter(pk__in=ids, archived_at__isnull=True)
                .order_by("pk")
            )
            if take_aside is not None and not leads and ids:
                # every lead held (or gone): wait for them here, in a transaction
                # that holds nothing yet
                leads = list(
                    Lead.objects.select_for_update()
                    .filter(pk__in=ids, archived_at__isnull=True)
                    .order_by("pk")
                )
            # their accounts, and the few product lines and criteria versions of a batch,
            # each read once (joined, the accounts cost more to build)
            attach_related(leads, ["account", "product_line", "criteria_set"])
            locked = {lead.pk: lead for lead in leads}
            # of the leads not locked, the ones another transaction holds (the rest are
            # archived or gone): taken aside
            busy = (
                set(
                    Lead.objects.filter(
                        pk__in=ids - locked.keys(), archived_at__isnull=True
                    ).values_list("pk", flat=True)
                )
                if take_aside is not None and len(locked) < len(ids)
                else set()
            )
            if busy:
                handed = {i for i, item in enumerate(events) if _lead_id(item) in busy}
                take_aside(sorted(handed))
            known = {
                e.external_id: e
                for e in EngagementEvent.objects.filter(external_id__in=external_ids)
            }
            new: list[tuple[int, EngagementEvent]] = []
            for index, item in enumerate(events):
                if index in handed:
                    continue
                lead = locked.get(_lead_id(item))
                if lead is None:
                    results[index] = EventResult(None, False, None, refused=no_open_lead())
                    continue
                external_id = (item.external_id or "").strip() or None
                if external_id in known:
                    results[index] = EventResult(known[external_id], False, lead)
                    continue
                event = EngagementEvent(
                    lead=lead,
                    kind=item.kind,
                    occurred_at=item.occurred_at,
                    external_id=external_id,
                    url=(item.url or "")[:500],
                    content_tag=(item.content_tag or "")[:80],
                    metadata=item.metadata or {},
                )
                new.append((index, event))
                if external_id:
                    known[external_id] = event
            insert_rows([event for _, event in new])
            kinds: dict[int, set[str]] = {}
            for _, event in new:
                kinds.setdefault(event.lead_id, set()).add(event.kind)
            moved = _advance([locked[pk] for pk in sorted(kinds)], kinds, now)
            for index, event in new:
                results[index] = EventResult(event, True, moved.get(event.lead_id, event.lead))
            for index, result in enumerate(results):
                if result is not None and result.lead is not None and not result.created:
                    results[index] = EventResult(
                        result.event, False, moved.get(result.lead.pk, result.lead)
                    )
    except IntegrityError:
        # An external_id raced in on another connection: take the events one by one,
        # each in its own transaction, so the repeat is recognised as such.
        if len(events) == 1:
            existing = EngagementEvent.objects.select_related("lead").get(
                external_id=events[0].external_id.strip()
            )
            return [EventResult(existing, False, existing.lead)]
        return [
            None if index in handed else _record_together([item], now)[0]
            for index, item in enumerate(events)
        ]
    return results


def rescore(leads: QuerySet[Lead], *, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Compute again the score and handoff readiness of the open leads among `leads`
    that have a criteria version, in batches by primary key, and write the ones that
    changed: engagement decays with time even without new events, and fit and readiness
    follow facts edited since (the lead's own, or its account's). Returns how many
    leads changed."""
    now = now or timezone.now()
    changed_total = 0
    last_pk = 0
    while True:
        batch = list(
            leads.filter(
                pk__gt=last_pk,
                archived_at__isnull=True,
                stage__in=OPEN_STAGES,
                criteria_set__isnull=False,
            )
            .select_related("account", "product_line", "criteria_set")
            .prefetch_related("events")
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return changed_total
        changed = []
        for lead in batch:
            result, blocked = _scored(lead, now, as_scoring_events(lead.events.all()))
            if (result.fit, result.engagement, blocked) != (
                lead.fit_score,
                lead.engagement_score,
                lead.handoff_blocked,
            ):
                lead.fit_score, lead.engagement_score = result.fit, result.engagement
                lead.handoff_blocked = blocked
                changed.append(lead)
        # Plain column updates: a concurrent transition is not overwritten (no stage
        # written), and a concurrent rescore wins with the same or fresher numbers.
        update_columns(changed, ["fit_score", "engagement_score", "handoff_blocked"])
        changed_total += len(changed)
        last_pk = batch[-1].pk


def rescore_after_edit(leads: QuerySet[Lead]) -> None:
    """Facts were edited outside ingestion (in the admin, or an account's blanks filled
    by another lead's form): rescore `leads` once the edit commits, so that their fit
    scores and handoff readiness follow at once, not at the nightly refresh. Should that
    fail, the edit stands and the failure is logged: the nightly refresh catches up."""
    transaction.on_commit(lambda: rescore(leads), robust=True)


# --- one entry point for pages and the API ---------------------------------------------

# What each transition takes from a person, besides the lead and who acts.
TRANSITION_INPUTS: dict[str, tuple[str, ...]] = {
    "engage": (),
    "qualify_mql": (),
    "accept": (),
    "reject": ("reason", "note"),
    "qualify_sql": ("next_step", "note"),
    "nurture": ("reason", "follow_up_on", "note"),
    "convert": ("note",),
    "recycle": ("note",),
    "dispute": ("note",),
    "disqualify": ("reason", "note"),
}


def perform(
    name: str, *, lead: Lead, by: Any, seen_stage: str | None = None, **inputs: Any
) -> StageChange:
    """Run the transition `name` as a person would ask for it: `seen_stage` is the stage
    their page or client showed, so a lead that moved meanwhile is reported, not changed.
    Inputs a transition does not take are ignored."""
    if name not in TRANSITIONS:
        raise LeadActionRefused("unknown_transition", f"There is no action called '{name}'.")
    if seen_stage and seen_stage != lead.stage:
        raise LeadActionRefused(
            "stale",
            f"This lead changed while you were looking at it (it is now "
            f"{lead.get_stage_display()}). Reload and try again.",
        )
    kwargs = {key: inputs[key] for key in TRANSITION_INPUTS[name] if key in inputs}
    for key in ("note", "next_step"):
        if key in TRANSITION_INPUTS[name]:
            kwargs.setdefault(key, "")
    if name in ("reject", "nurture", "disqualify"):
        kwargs.setdefault("reason", None)
    if name == "nurture":
        kwargs.setdefault("follow_up_on", None)
    return TRANSITIONS[name](lead=lead, by=by, **kwargs)
