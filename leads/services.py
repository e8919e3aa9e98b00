"""Every use case that changes a lead. Views, API, admin and tasks call these functions,
never the model's transition methods.

Each transition: one transaction, the lead row locked, the caller's view of the stage
checked (so a concurrent change is reported, not overwritten), permission, input and
guards checked with a readable sentence on refusal, the transition applied and saved,
one audit row written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from qualification.models import ChecklistAnswer, ChecklistItem, Reason
from qualification.selectors import checklist_state

from . import guards
from .models import Lead, StageChange, Touch


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


def _transition_for(lead: Lead, name: str):
    for t in lead.get_all_stage_transitions():
        if t.name == name and t.source == lead.stage:
            return t
    return None


def available_transitions(lead: Lead, user: Any) -> list[str]:
    """Names of the transitions `user` could take on `lead` now (guards and permission
    met), for pages to show only buttons that would succeed."""
    return [t.name for t in lead.get_available_user_stage_transitions(user)]


def _checklist_snapshot(lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "item": row.item_id,
            "question": row.question,
            "must_have": row.must_have,
            "answer": row.answer,
            "evidence": row.evidence,
        }
        for row in checklist_state(lead)
    ]


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


def _run(
    lead: Lead,
    name: str,
    by: Any,
    *,
    data: _Input | None = None,
    at: dt.datetime | None = None,
    method_kwargs: dict[str, Any] | None = None,
) -> StageChange:
    data = data or _Input()
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
            transition = _transition_for(locked, name)
            if transition is None:
                raise LeadActionRefused(
                    "not_allowed",
                    f"A lead in stage {locked.get_stage_display()} cannot be "
                    f"{TRANSITION_VERBS[name]}.",
                )
            if by is not None and not transition.has_perm(locked, by):
                raise LeadActionRefused(
                    "permission",
                    guards.PERMISSION_SENTENCES.get(
                        transition.permission, "You may not do this on this lead."
                    ),
                )
            for condition in transition.conditions:
                message = condition.failure(locked)
                if message:
                    raise LeadActionRefused(condition.code, message)

            from_stage = locked.stage
            getattr(locked, name)(at=at, **(method_kwargs or {}))
            locked.save()
            change = StageChange.objects.create(
                lead=locked,
                from_stage=from_stage,
                to_stage=locked.stage,
                transition=name,
                actor=by,
                at=at,
                reason=data.reason,
                note=data.note,
                checklist_snapshot=_checklist_snapshot(locked),
                fit_score=locked.fit_score,
                engagement_score=locked.engagement_score,
                criteria_set=locked.criteria_set,
                details=data.details or {},
            )
    except ConcurrentTransition as exc:
        raise LeadActionRefused(
            "stale", "This lead was changed by someone else at the same moment. Reload."
        ) from exc
    except Lead.DoesNotExist as exc:
        raise LeadActionRefused("gone", "This lead no longer exists.") from exc
    return change


# --- the transitions ---------------------------------------------------------------


def engage(*, lead: Lead, by: Any = None, at: dt.datetime | None = None) -> StageChange:
    return _run(lead, "engage", by, at=at)


def qualify_mql(*, lead: Lead, by: Any = None, at: dt.datetime | None = None) -> StageChange:
    details = {"fast_lane": lead.fast_lane_reason} if lead.fast_lane_reason else None
    return _run(lead, "qualify_mql", by, data=_Input(details=details), at=at)


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
    return Touch.objects.create(
        lead=lead, kind=kind, outcome=outcome, note=note.strip(), by=by, occurred_at=occurred_at
    )


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
