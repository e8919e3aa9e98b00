"""Reads of qualification data, shaped for guards, pages and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .models import ChecklistAnswer, ChecklistItem

if TYPE_CHECKING:
    from leads.models import Lead


@dataclass(frozen=True)
class ChecklistRow:
    item_id: int
    dimension: str
    question: str
    help_text: str
    must_have: bool
    answer: str  # "confirmed", "not_met" or "unknown" (never answered counts as unknown)
    answer_label: str
    evidence: str
    answered_by_id: int | None


def checklist_state(lead: Lead) -> list[ChecklistRow]:
    """The lead's checklist under its criteria version: the latest answer per item."""
    if lead.criteria_set_id is None:
        return []
    items = list(ChecklistItem.objects.filter(criteria_set_id=lead.criteria_set_id))
    latest: dict[int, ChecklistAnswer] = {}
    # newest first (model ordering), so the first seen per item is the one that counts
    for answer in ChecklistAnswer.objects.filter(lead=lead, item__in=items):
        latest.setdefault(answer.item_id, answer)
    labels = dict(ChecklistAnswer.Answer.choices)
    rows = []
    for item in items:
        answer = latest.get(item.pk)
        value = answer.answer if answer else ChecklistAnswer.Answer.UNKNOWN
        rows.append(
            ChecklistRow(
                item_id=item.pk,
                dimension=item.dimension,
                question=item.question,
                help_text=item.help_text,
                must_have=item.must_have,
                answer=value,
                answer_label=labels[value],
                evidence=answer.evidence if answer else "",
                answered_by_id=answer.answered_by_id if answer else None,
            )
        )
    return rows


def missing_details(lead: Lead) -> list[str]:
    """Must-have questions still unknown: what the rep needs to find out ("needs more info")."""
    return [
        row.question for row in checklist_state(lead) if row.must_have and row.answer == "unknown"
    ]
