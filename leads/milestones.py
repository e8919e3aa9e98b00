"""The first time a lead reached each step of the funnel, kept on the lead.

The reports follow cohorts (leads by the date of their first MQL) and measure the time
between first steps; reading these columns instead of the whole stage history keeps a
report over a year of a million leads to an index range scan. The stage history stays
the truth: every writer of an audit row calls `note_stage_change` with the same values
(leads.services' transition runner, the bulk demo), and migration 0008 filled them from
the history once.
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


def note_stage_change(lead: Any, from_stage: str, to_stage: str, at: dt.datetime) -> list[str]:
    """Record a change at `at` on `lead` (a Lead, or a dict of its values): each milestone
    it reaches keeps the earliest time. Returns the fields it changed."""
    changed = []
    for name in changed_fields(from_stage, to_stage):
        current = lead.get(name) if isinstance(lead, dict) else getattr(lead, name)
        if current is None or at < current:
            if isinstance(lead, dict):
                lead[name] = at
            else:
                setattr(lead, name, at)
            changed.append(name)
    return changed
