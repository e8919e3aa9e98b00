"""Reads of routing data, shaped for the lead page, the page header and reports."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from leads.models import Lead

from .models import Assignment, Notification, SlaClock


def latest_assignment(lead: Lead) -> Assignment | None:
    """Who got the lead last, how and why ("why did I get this?"), with the owner and
    team the lead page shows (its explanation names the rule; the rule, the previous
    owner and who reassigned are read only if asked for)."""
    return (
        Assignment.objects.filter(lead=lead)
        .select_related("owner", "team")
        .order_by("-at", "-pk")
        .first()
    )


def assignments_for(lead: Lead) -> QuerySet[Assignment]:
    return (
        Assignment.objects.filter(lead=lead)
        .select_related("owner", "previous_owner", "team", "by")
        .order_by("-at", "-pk")
    )


def clocks_for(lead: Lead) -> QuerySet[SlaClock]:
    """Every clock of the lead, newest first, with the time it became an MQL available
    through the lead's history: reports show both (routing delay vs the rep's time)."""
    return SlaClock.objects.filter(lead=lead).select_related("policy__calendar", "owner")


def running_clocks(lead: Lead) -> QuerySet[SlaClock]:
    """The lead's running clocks, the most urgent first (as lists show it)."""
    return clocks_for(lead).filter(stopped_at__isnull=True).order_by("due_at", "pk")


def unread_count(user: Any) -> int:
    """For the page header (a context processor can call this once per request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notifications_for(user: Any, *, unread_only: bool = False) -> QuerySet[Notification]:
    rows = Notification.objects.filter(recipient=user).select_related("lead")
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return rows.order_by("-created_at", "-pk")
