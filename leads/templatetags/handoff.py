"""Small presentation helpers for lead pages: SLA countdowns and score signs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from leads.selectors import person_name
from routing.models import CLOCK_SHORT_LABELS
from routing.sla import due_text

register = template.Library()


def duration_text(delta: dt.timedelta) -> str:
    """ "35 min", "1 h 20 min", "3 d 4 h": two units at most, rounded down to minutes."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def countdown(
    due_at: dt.datetime, warn_at: dt.datetime | None, now: dt.datetime
) -> tuple[str, str]:
    """(state, text) for a running clock: state is "breached", "warning" or "ok"."""
    if now >= due_at:
        return "breached", f"overdue by {duration_text(now - due_at)}"
    state = "warning" if warn_at is not None and now >= warn_at else "ok"
    return state, f"due in {duration_text(due_at - now)}"


@register.simple_tag
def sla_badge(lead: Any) -> str:
    """The most urgent running clock of a lead from a list queryset (running_clocks
    prefetched by leads.selectors.with_list_relations), as text and colour."""
    clocks = getattr(lead, "running_clocks", None)
    if not clocks:
        return mark_safe('<span class="sla sla-none">no clock</span>')
    clock = clocks[0]
    state, text = countdown(clock.due_at, clock.warn_at, timezone.now())
    icon = {"breached": "⚠", "warning": "◔", "ok": "●"}[state]
    return format_html(
        '<span class="sla sla-{}" title="{} clock, due {}"><span aria-hidden="true">{}</span> '
        "{}: {}</span>",
        state,
        clock.get_kind_display(),
        due_text(clock),
        icon,
        CLOCK_SHORT_LABELS[clock.kind],
        text,
    )


@register.filter
def person(user: Any) -> str:
    """A user as pages name them (leads.selectors.person_name): "" for nobody."""
    return person_name(user)


@register.filter
def signed(value: int) -> str:
    return f"{value:+d}"


@register.simple_tag
def sla_clock(clock: Any, now: dt.datetime) -> str:
    """One running clock on the lead page: kind, countdown and due time, on the clock's
    calendar as its warning and breach notices give it (business hours are that office's)."""
    state, text = countdown(clock.due_at, clock.warn_at, now)
    return format_html(
        '<span class="sla sla-{}">{}: {}</span> <small>(due {}, target {} business time)</small>',
        state,
        clock.get_kind_display(),
        text,
        due_text(clock),
        duration_text(clock.target),
    )
