"""The first time a lead reached each step of the funnel, kept on the lead.

The reports follow cohorts (leads by the date of their first MQL) and measure the time
between first steps; reading these columns instead of the whole stage history keeps a
report over a year of a million leads to an index range scan. The stage history stays
the truth: every writer of an audit row calls `note_stage_change` with the same values
(leads.services' transition runner, the bulk demo), and migrations 0008 and 0018 filled
them from the history once. With the first MQL time go the scores that audit row
records (FIRST_MQL_SCORES): the score calibration report's cohort, read from the leads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .stages import Stage

# stage entered -> the lead's column holding the first time it entered it
FIRST_REACHED: dict[str, str] = {
    Stage.MQL: "first_mql_at",
    Stage.ACCEPTED: "first_accepted_at",
    Stage.REJECTED: "first_rejected_at",
    Stage.SQL: "first_sql_at",
    Stage.OPPORTUNITY: "first_opportunity_at",
}
# the lead's columns holding its first MQL's audit row's fit, engagement and criteria
# version, by the audit row's field
FIRST_MQL_SCORES: dict[str, str] = {
    "fit_score": "first_mql_fit_score",
    "engagement_score": "first_mql_engagement_score",
    "criteria_set_id": "first_mql_criteria_set_id",
}
# entering the funnel: the first step out of "new" (engaged, or an MQL at once)
ENTERED_FUNNEL = "entered_funnel_at"
ENTRY_TARGETS = (Stage.ENGAGED, Stage.MQL)


def is_entry(from_stage: str, to_stage: str) -> bool:
    return from_stage == Stage.NEW and to_stage in ENTRY_TARGETS


def changed_fields(from_stage: str, to_stage: str) -> list[str]:
    """The milestone columns a change from `from_stage` to `to_stage` may set."""
    fields = [FIRST_REACHED[to_stage]] if to_stage in FIRST_REACHED else []
    if is_entry(from_stage, to_stage):
        fields.append(ENTERED_FUNNEL)
    return fields


def note_stage_change(
    lead: Any,
    from_stage: str,
    to_stage: str,
    at: dt.datetime,
    *,
    fit_score: int,
    engagement_score: int,
    criteria_set_id: int | None,
) -> list[str]:
    """Record a change at `at` on `lead` (a Lead, or a dict of its values), whose audit
    row records the scores given: each milestone it reaches keeps the earliest time, and
    the first MQL its scores. Returns the fields it changed (attribute names)."""
    scores = {
        "fit_score": fit_score,
        "engagement_score": engagement_score,
        "criteria_set_id": criteria_set_id,
    }
    changed = []
    for name in changed_fields(from_stage, to_stage):
        current = lead.get(name) if isinstance(lead, dict) else getattr(lead, name)
        if current is None or at < current:
            values = {name: at}
            if name == FIRST_REACHED[Stage.MQL]:
                values.update((kept, scores[of]) for of, kept in FIRST_MQL_SCORES.items())
            for field, value in values.items():
                if isinstance(lead, dict):
                    lead[field] = value
                else:
                    setattr(lead, field, value)
            changed.extend(values)
    return changed
