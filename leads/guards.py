"""Guards of the lead lifecycle: django-fsm conditions and permissions that can say, in a
sentence a rep can read, why they refuse.

A condition is a `Guard`: calling it answers yes/no (what django-fsm needs), and
`failure(lead)` gives the sentence. Permissions are plain `(lead, user) -> bool`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .roles import MARKETING_OPS, SALES_MANAGER, roles_of
from .stages import Stage

if TYPE_CHECKING:
    from .models import Lead


class Guard:
    def __init__(self, code: str, explain: Callable[[Lead], str | None]) -> None:
        self.code = code
        self.explain = explain
        self.__name__ = code

    def __call__(self, lead: Lead) -> bool:
        return self.explain(lead) is None

    def failure(self, lead: Lead) -> str | None:
        return self.explain(lead)


def guard(code: str) -> Callable[[Callable[[Lead], str | None]], Guard]:
    def wrap(explain: Callable[[Lead], str | None]) -> Guard:
        return Guard(code, explain)

    return wrap


# --- conditions --------------------------------------------------------------------


@guard("archived")
def not_archived(lead: Lead) -> str | None:
    if lead.archived_at is not None:
        return "This lead is archived; restore it before changing its stage."
    return None


def _missing_handoff_fields(lead: Lead) -> list[str]:
    criteria = lead.criteria_set
    labels = criteria.HANDOFF_FIELDS
    missing = []
    for name in criteria.required_fields or []:
        if name == "account":
            filled = lead.account_id is not None
        elif name == "product_line":
            filled = lead.product_line_id is not None
        elif name == "country":
            filled = bool(lead.country) or bool(lead.account_id and lead.account.country)
        else:
            filled = bool(getattr(lead, name, ""))
        if not filled:
            missing.append(labels.get(name, name))
    return missing


@guard("mql_definition")
def meets_mql_definition(lead: Lead) -> str | None:
    """Thresholds and handoff fields of the lead's criteria set, or a fast lane."""
    criteria = lead.criteria_set
    if criteria is None:
        return (
            "There is no active qualification criteria set for this lead's product line, "
            "so it cannot become an MQL."
        )
    if lead.fast_lane_reason or lead.account_mql_reason:
        return None
    # A nurtured lead comes back to its owner on its follow-up date (routing's sweep),
    # whatever its score: the rep decided then that it was worth a second call.
    if (
        lead.stage == Stage.NURTURE
        and lead.follow_up_on is not None
        and lead.follow_up_on <= timezone.localdate()
    ):
        return None
    problems = []
    if lead.fit_score < criteria.fit_threshold:
        problems.append(
            f"fit score {lead.fit_score} is below the threshold of {criteria.fit_threshold}"
        )
    if lead.engagement_score < criteria.engagement_threshold:
        problems.append(
            f"engagement score {lead.engagement_score} is below the threshold of "
            f"{criteria.engagement_threshold}"
        )
    missing = _missing_handoff_fields(lead)
    if missing:
        problems.append("missing at handoff: " + ", ".join(missing))
    if problems:
        return "Not an MQL yet: " + "; ".join(problems) + "."
    return None


@guard("checklist")
def checklist_must_haves_confirmed(lead: Lead) -> str | None:
    from qualification.selectors import checklist_state

    criteria = lead.criteria_set
    if criteria is None:
        return "This lead has no criteria version, so its checklist cannot be checked."
    if not criteria.requires_sql_checks:
        return None
    state = checklist_state(lead)
    open_items = [row for row in state if row.must_have and row.answer != "confirmed"]
    if not open_items:
        return None
    if len(open_items) == 1:
        row = open_items[0]
        return f"Checklist item '{row.question}' is not confirmed ({row.answer_label.lower()})."
    listed = "; ".join(f"'{row.question}' ({row.answer_label.lower()})" for row in open_items)
    return f"{len(open_items)} must-have checklist items are not confirmed: {listed}."


@guard("recycle_limit")
def under_recycle_limit(lead: Lead) -> str | None:
    limit = lead.criteria_set.recycle_limit if lead.criteria_set else 2
    if lead.recycle_count >= limit:
        return (
            f"This lead has been recycled {lead.recycle_count} times, the limit of its "
            "criteria set; it is disqualified instead."
        )
    return None


@guard("already_disputed")
def not_disputed_this_cycle(lead: Lead) -> str | None:
    if lead.mql_cycle and lead.disputed_in_cycle == lead.mql_cycle:
        return "This rejection was already disputed once in this MQL cycle."
    return None


# --- permissions ---------------------------------------------------------------------


def is_owner_or_manager(lead: Lead, user: Any) -> bool:
    roles = roles_of(user)
    if SALES_MANAGER in roles:
        return True
    return user is not None and lead.owner_id is not None and lead.owner_id == user.pk


def is_marketing_ops(lead: Lead, user: Any) -> bool:
    return MARKETING_OPS in roles_of(user)


PERMISSION_SENTENCES = {
    is_owner_or_manager: "Only the lead's owner or a sales manager can do this.",
    is_marketing_ops: "Only marketing ops can do this.",
}
