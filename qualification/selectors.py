"""Reads of qualification data, shaped for guards, pages and the audit trail."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from .models import ChecklistAnswer, ChecklistItem, CriteriaSet, FastLaneRule, ScoringRule

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
    """The lead's checklist under its criteria version: the latest answer per item.

    Kept on the lead object for the rest of its life (a page asks several times: the
    checklist, what is missing, each guard), for as long as its criteria version is the
    same; `forget_checklist` drops it when an answer is recorded."""
    kept = lead.__dict__.get(_KEPT)
    if kept is None or kept[0] != lead.criteria_set_id:
        kept = lead.__dict__[_KEPT] = (lead.criteria_set_id, checklist_states([lead])[lead.pk])
    return kept[1]


def forget_checklist(lead: Lead) -> None:
    lead.__dict__.pop(_KEPT, None)


_KEPT = "_checklist_state"


def checklist_states(leads: Iterable[Lead]) -> dict[int, list[ChecklistRow]]:
    """`checklist_state` of many leads in two queries (items of their criteria versions,
    their answers), keyed by lead id."""
    leads = list(leads)
    versions = {lead.criteria_set_id for lead in leads if lead.criteria_set_id is not None}
    items: dict[int, list[ChecklistItem]] = {}
    latest: dict[tuple[int, int], ChecklistAnswer] = {}
    if versions:
        for item in ChecklistItem.objects.filter(criteria_set_id__in=versions):
            items.setdefault(item.criteria_set_id, []).append(item)
        # newest first (model ordering), so the first seen per item is the one that counts
        for answer in ChecklistAnswer.objects.filter(
            lead__in=[lead.pk for lead in leads if lead.criteria_set_id is not None],
            item__criteria_set_id__in=versions,
        ):
            latest.setdefault((answer.lead_id, answer.item_id), answer)
    labels = dict(ChecklistAnswer.Answer.choices)
    states: dict[int, list[ChecklistRow]] = {}
    for lead in leads:
        rows = []
        for item in items.get(lead.criteria_set_id, []):
            answer = latest.get((lead.pk, item.pk))
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
        states[lead.pk] = rows
    return states


def missing_details(lead: Lead) -> list[str]:
    """Must-have questions still unknown: what the rep needs to find out ("needs more info")."""
    return [
        row.question for row in checklist_state(lead) if row.must_have and row.answer == "unknown"
    ]


# Published versions never change, so their rules are cached for the process's life;
# drafts are read fresh every time (they are being edited).
_published_rules: dict[int, tuple] = {}


def rules_for(criteria_set: CriteriaSet) -> tuple:
    """The criteria set's scoring rules in the pure form qualification.scoring takes."""
    cached = _published_rules.get(criteria_set.pk)
    if cached is not None:
        return cached
    rules = tuple(rule.as_rule() for rule in ScoringRule.objects.filter(criteria_set=criteria_set))
    if criteria_set.status != CriteriaSet.Status.DRAFT:
        _published_rules[criteria_set.pk] = rules
    return rules


def active_criteria_for(product_line_id: int | None) -> CriteriaSet | None:
    if product_line_id is None:
        return None
    return CriteriaSet.objects.filter(
        product_line_id=product_line_id, status=CriteriaSet.Status.ACTIVE
    ).first()


def fast_lane_labels() -> dict[str, str]:
    """Active fast-lane event kinds and their labels."""
    return dict(FastLaneRule.objects.filter(active=True).values_list("event_kind", "label"))


@dataclass(frozen=True)
class ImpactPreview:
    days: int
    leads: int
    mql_under_draft: int
    mql_under_active: int
    accepted_under_draft: int
    accepted_under_active: int
    sql_under_draft: int
    sql_under_active: int


def impact_preview(draft: CriteriaSet, *, now, days: int = 90) -> ImpactPreview:
    """How many leads of the last `days` would have become MQLs under the draft versus
    the active version, and how many of those sales accepted and qualified.

    Leads are scored as of now on their full event history; fast lanes are left out
    (they bypass thresholds under both versions alike)."""
    from django.db.models import Exists, OuterRef, Prefetch

    from leads.models import EngagementEvent, Lead, StageChange
    from leads.selectors import as_scoring_events, lead_facts

    from . import scoring

    active = active_criteria_for(draft.product_line_id)
    since = now - timedelta(days=days)
    reached = StageChange.objects.filter(lead=OuterRef("pk"))
    leads = (
        Lead.objects.filter(product_line_id=draft.product_line_id, created_at__gte=since)
        .select_related("account", "product_line")
        .prefetch_related(
            Prefetch(
                "events",
                queryset=EngagementEvent.objects.only(
                    "lead_id", "kind", "occurred_at", "url", "content_tag"
                ),
            )
        )
        .annotate(
            was_accepted=Exists(reached.filter(to_stage="accepted")),
            was_sql=Exists(reached.filter(to_stage="sql")),
        )
    )

    def qualifies(criteria: CriteriaSet | None, facts, events) -> bool:
        if criteria is None:
            return False
        result = scoring.score(
            facts,
            events,
            rules_for(criteria),
            now=now,
            half_life_days=criteria.engagement_half_life_days,
        )
        return (
            result.fit >= criteria.fit_threshold
            and result.engagement >= criteria.engagement_threshold
        )

    counts = dict.fromkeys(("leads", "md", "ma", "ad", "aa", "sd", "sa"), 0)
    for lead in leads:
        counts["leads"] += 1
        facts = lead_facts(lead)
        events = as_scoring_events(lead.events.all())
        for version, key in ((draft, "d"), (active, "a")):
            if qualifies(version, facts, events):
                counts["m" + key] += 1
                counts["a" + key] += lead.was_accepted
                counts["s" + key] += lead.was_sql
    return ImpactPreview(
        days=days,
        leads=counts["leads"],
        mql_under_draft=counts["md"],
        mql_under_active=counts["ma"],
        accepted_under_draft=counts["ad"],
        accepted_under_active=counts["aa"],
        sql_under_draft=counts["sd"],
        sql_under_active=counts["sa"],
    )
