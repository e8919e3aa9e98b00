"""Changes to the qualification definition: versions are copied to drafts and published;
a published version never changes."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .models import ChecklistItem, CriteriaSet, ScoringRule


class CriteriaError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def copy_to_draft(*, criteria_set: CriteriaSet, by: Any = None) -> CriteriaSet:
    """A new draft version of the set's product line, with its rules and checklist."""
    with transaction.atomic():
        # lock the product line's versions so two copies cannot take the same number
        versions = CriteriaSet.objects.select_for_update().filter(
            product_line_id=criteria_set.product_line_id
        )
        next_version = (versions.aggregate(v=Max("version"))["v"] or 0) + 1
        draft = CriteriaSet.objects.create(
            name=criteria_set.name,
            product_line_id=criteria_set.product_line_id,
            sales_motion=criteria_set.sales_motion,
            version=next_version,
            status=CriteriaSet.Status.DRAFT,
            fit_threshold=criteria_set.fit_threshold,
            engagement_threshold=criteria_set.engagement_threshold,
            account_engagement_threshold=criteria_set.account_engagement_threshold,
            required_fields=list(criteria_set.required_fields or []),
            engagement_half_life_days=criteria_set.engagement_half_life_days,
            recycle_limit=criteria_set.recycle_limit,
            requires_sql_checks=criteria_set.requires_sql_checks,
        )
        ScoringRule.objects.bulk_create(
            ScoringRule(
                criteria_set=draft,
                **{
                    f.attname: getattr(rule, f.attname)
                    for f in ScoringRule._meta.concrete_fields
                    if f.attname not in ("id", "criteria_set_id")
                },
            )
            for rule in criteria_set.scoring_rules.all()
        )
        ChecklistItem.objects.bulk_create(
            ChecklistItem(
                criteria_set=draft,
                dimension=item.dimension,
                question=item.question,
                help_text=item.help_text,
                must_have=item.must_have,
                order=item.order,
            )
            for item in criteria_set.checklist_items.all()
        )
    return draft


def publish(*, criteria_set: CriteriaSet, by: Any = None) -> CriteriaSet:
    """Make a draft the active version of its product line; the previous one retires."""
    with transaction.atomic():
        draft = CriteriaSet.objects.select_for_update().get(pk=criteria_set.pk)
        if draft.status != CriteriaSet.Status.DRAFT:
            raise CriteriaError(
                "not_draft", f"{draft} is not a draft; only drafts can be published."
            )
        problems = publish_problems(draft)
        if problems:
            raise CriteriaError("invalid", " ".join(problems))
        CriteriaSet.objects.filter(
            product_line_id=draft.product_line_id, status=CriteriaSet.Status.ACTIVE
        ).update(status=CriteriaSet.Status.RETIRED)
        CriteriaSet.objects.filter(pk=draft.pk).update(
            status=CriteriaSet.Status.ACTIVE, published_at=timezone.now()
        )
        draft.refresh_from_db()
    return draft


def publish_problems(criteria_set: CriteriaSet) -> list[str]:
    """Why a draft cannot be published, as sentences (empty when it can)."""
    problems = []
    if criteria_set.fit_threshold < 0 or criteria_set.engagement_threshold < 0:
        problems.append("Thresholds cannot be negative.")
    if criteria_set.requires_sql_checks and not criteria_set.checklist_items.exists():
        problems.append(
            "This version requires SQL checks but has no checklist items: add at least one."
        )
    if (
        criteria_set.requires_sql_checks
        and not criteria_set.checklist_items.filter(must_have=True).exists()
    ):
        problems.append("Mark at least one checklist item as a must-have for SQL.")
    if not criteria_set.scoring_rules.exists():
        problems.append("Add scoring rules: without them no lead can reach the thresholds.")
    for rule in criteria_set.scoring_rules.all():
        if not rule.label.strip():
            problems.append(f"Scoring rule #{rule.pk} has no label.")
    return problems
