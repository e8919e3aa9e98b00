"""Reads of leads, shaped for scoring, pages and reports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qualification import scoring

from .models import EngagementEvent, Lead


def lead_facts(lead: Lead) -> dict[str, Any]:
    """The facts fit rules look at (qualification.models.ScoringRule.FACT_FIELDS).
    The caller decides whether account and product line are already loaded."""
    account = lead.account
    return {
        "industry": account.industry if account else "",
        "segment": account.segment if account else "",
        "employee_count": account.employee_count if account else None,
        "country": lead.country or (account.country if account else ""),
        "region": account.region if account else "",
        "role_category": lead.role_category,
        "title": lead.title,
        "phone": lead.phone,
        "free_mail": lead.free_mail,
        "source": lead.source,
        "product_line": lead.product_line.code if lead.product_line_id else "",
        "domain": account.domain if account else "",
    }


def as_scoring_events(events: Iterable[EngagementEvent]) -> list[scoring.Event]:
    return [
        scoring.Event(kind=e.kind, occurred_at=e.occurred_at, url=e.url, content_tag=e.content_tag)
        for e in events
    ]


def scoring_events(lead: Lead) -> list[scoring.Event]:
    rows = EngagementEvent.objects.filter(lead=lead).only(
        "kind", "occurred_at", "url", "content_tag"
    )
    return as_scoring_events(rows)
