"""Reads of leads, shaped for scoring, pages and reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, QuerySet
from django.db.models.expressions import RawSQL

from qualification import scoring

from .models import QUEUE_PRIORITY_RANK, EngagementEvent, Lead, StageChange, Touch
from .stages import Stage


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
    return scoring_events_of([lead])[lead.pk]


def scoring_events_of(leads: Iterable[Lead]) -> dict[int, list[scoring.Event]]:
    """The leads' engagement events for scoring, newest first, by lead id, in one query
    of plain values (a batch reads thousands: model instances would cost more)."""
    history: dict[int, list[scoring.Event]] = {lead.pk: [] for lead in leads}
    rows = (
        EngagementEvent.objects.filter(lead_id__in=list(history))
        .order_by("-occurred_at", "-pk")
        .values_list("lead_id", "kind", "occurred_at", "url", "content_tag")
    )
    for lead_id, kind, occurred_at, url, content_tag in rows:
        history[lead_id].append(
            scoring.Event(kind=kind, occurred_at=occurred_at, url=url, content_tag=content_tag)
        )
    return history


# --- who sees which leads -------------------------------------------------------------
# One place decides visibility; every page and API call goes through it, and a lead
# outside it answers 404 (its existence is not revealed).


def visible_leads(user: Any) -> QuerySet[Lead]:
    from django.db.models import Q

    from .roles import MARKETING_OPS, SALES_MANAGER, roles_of

    leads = Lead.objects.filter(archived_at__isnull=True)
    roles = roles_of(user)
    if MARKETING_OPS in roles:
        return leads
    if SALES_MANAGER in roles:
        # the teams they manage: every member's leads, their own, and unowned team work
        return leads.filter(Q(owner=user) | Q(owner__in=_managed_members(user)))
    return leads.filter(owner=user)


def _managed_members(manager: Any) -> QuerySet[Any]:
    from routing.models import TeamMembership

    return TeamMembership.objects.filter(team__manager=manager).values("user_id")


def team_owner_ids(manager: Any) -> list[int]:
    """Whose leads a sales manager sees (visible_leads): themself and the members of the
    teams they manage."""
    members = _managed_members(manager).values_list("user_id", flat=True)
    return sorted({manager.pk, *members})


def with_list_relations(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """What every lead list shows: account, owner, product line and the running clocks,
    in a constant number of queries whatever the page size."""
    from django.db.models import Prefetch

    from routing.models import SlaClock

    return leads.select_related("account", "owner", "product_line").prefetch_related(
        Prefetch(
            "sla_clocks",
            # with the policy's calendar: the badge gives the due time on its clock
            queryset=SlaClock.objects.filter(stopped_at__isnull=True)
            .select_related("policy__calendar")
            .order_by("due_at"),
            to_attr="running_clocks",
        )
    )


def lead_queue_for(user: Any) -> QuerySet[Lead]:
    """A rep's queue: own MQLs to decide and accepted leads to work, hot ones first and,
    within a priority, the most urgent running clock first (an MQL to decide within the
    hour before a qualification due next week), then the longest waiting."""
    return (
        with_list_relations(
            Lead.objects.filter(
                owner=user, archived_at__isnull=True, stage__in=(Stage.MQL, Stage.ACCEPTED)
            )
        )
        .annotate(priority_rank=QUEUE_PRIORITY_RANK)
        .order_by("priority_rank", F("sla_due_at").asc(nulls_last=True), "stage_entered_at", "pk")
    )


# The team page's order: the most urgent running clock first (Lead.sla_due_at, kept by
# routing.sla), leads without a running clock last.
URGENT_FIRST = (F("sla_due_at").asc(nulls_last=True), "pk")


class UrgentFirst:
    """The leads of several owners, most urgent first (URGENT_FIRST), read page by page.

    Sorting all of a team's open leads costs as much as the team's backlog (about 90,000
    leads for a 50-rep team at a million leads). Instead each owner's first rows are read
    from the lead_team_by_due index (owner, sla_due_at, id) in one LATERAL join and merged:
    rows up to N cost about owners x N index entries, whatever the backlog. Counting
    stops at a limit the same way. Other databases (the SQLite quick start) sort."""

    def __init__(self, leads: QuerySet[Lead], owner_ids: Iterable[int]) -> None:
        self.owner_ids = sorted(set(owner_ids))
        self.leads = leads.filter(owner_id__in=self.owner_ids)

    def count(self) -> int:
        return self.leads.order_by().count()

    def count_up_to(self, limit: int) -> int:
        if connection.vendor != "postgresql":
            return self.leads.order_by()[:limit].count()
        per_owner = self._per_owner(self.leads.order_by(), ("pk",), limit)
        if per_owner is None:
            return 0
        rows, params = per_owner
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {rows} LIMIT %s) AS counted"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            return cursor.fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[Lead]:
        return iter(self[0 : len(self)])

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, int):
            return self[key : key + 1][0]
        start, stop = key.start or 0, key.stop
        if stop is None or key.step is not None:
            raise ValueError("UrgentFirst is read by bounded slices, a page at a time.")
        if stop <= start or not self.owner_ids:
            return []
        ordered = self.leads.order_by(*URGENT_FIRST)
        if connection.vendor != "postgresql":
            return list(ordered[start:stop])
        per_owner = self._per_owner(ordered, ("pk", "sla_due_at"), stop)
        if per_owner is None:
            return []
        rows, params = per_owner
        sql = f"SELECT pk FROM {rows} ORDER BY sla_due_at ASC NULLS LAST, pk ASC LIMIT %s OFFSET %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, stop - start, start])
            ids = [pk for (pk,) in cursor.fetchall()]
        found = {lead.pk: lead for lead in self.leads.filter(pk__in=ids).order_by()}
        return [found[pk] for pk in ids if pk in found]

    def _per_owner(
        self, leads: QuerySet[Lead], columns: tuple[str, ...], limit: int
    ) -> tuple[str, list[Any]] | None:
        """`leads[:limit]` once per owner, as a FROM clause with `columns`, and its
        parameters; None when the leads can have no rows (a filter that matches nothing)."""
        each = (
            leads.filter(owner_id=RawSQL("owners.owner_id", ()))
            .prefetch_related(None)
            .values_list(*columns)[:limit]
        )
        try:
            sql, params = each.query.sql_with_params()
        except EmptyResultSet:
            return None
        names = ", ".join(columns)
        return (
            f"unnest(%s::bigint[]) AS owners(owner_id) CROSS JOIN LATERAL ({sql}) AS l({names})",
            [self.owner_ids, *params],
        )


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # "event", "touch", "stage", "notification"
    title: str
    detail: str
    actor: str


def timeline(lead: Lead, *, limit: int = 200) -> list[TimelineEntry]:
    """Events, touches, stage changes and notifications about the lead, newest first.
    Each is read with only what an entry shows: a stage change's checklist snapshot and
    a notification's body and context (JSON, read for every row otherwise) stay out."""
    from routing.models import Notification

    names = ("first_name", "last_name", "username")  # person_name
    entries: list[TimelineEntry] = []
    events = EngagementEvent.objects.filter(lead=lead).only(
        "occurred_at", "kind", "content_tag", "url"
    )
    for e in events.order_by("-occurred_at")[:limit]:
        detail = " · ".join(filter(None, [e.content_tag, e.url]))
        entries.append(TimelineEntry(e.occurred_at, "event", e.get_kind_display(), detail, ""))
    touches = (
        Touch.objects.filter(lead=lead)
        .select_related("by")
        .only("occurred_at", "kind", "outcome", "note", *(f"by__{name}" for name in names))
    )
    for t in touches[:limit]:
        entries.append(
            TimelineEntry(
                t.occurred_at,
                "touch",
                f"{t.get_kind_display()}: {t.get_outcome_display()}",
                t.note,
                person_name(t.by),
            )
        )
    changes = (
        StageChange.objects.filter(lead=lead)
        .select_related("actor", "reason")
        .only(
            "at",
            "from_stage",
            "to_stage",
            "note",
            "reason__label",
            *(f"actor__{name}" for name in names),
        )
    )
    for c in changes.order_by("-at")[:limit]:
        detail = " — ".join(filter(None, [c.reason.label if c.reason else "", c.note]))
        title = f"{Stage(c.from_stage).label} → {Stage(c.to_stage).label}"
        entries.append(
            TimelineEntry(
                c.at, "stage", title, detail, person_name(c.actor) if c.actor else "handoff"
            )
        )
    notes = (
        Notification.objects.filter(lead=lead)
        .select_related("recipient")
        .only("created_at", "title", *(f"recipient__{name}" for name in names))
    )
    for n in notes.order_by("-created_at")[:limit]:
        entries.append(
            TimelineEntry(
                n.created_at, "notification", n.title, "", f"to {person_name(n.recipient)}"
            )
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


def person_name(user: Any) -> str:
    """How pages name a user: the full name, else the username ("" for nobody)."""
    if user is None:
        return ""
    return user.get_full_name() or user.username
