"""Who should own a lead, and why: account match, routing rules, weighted round robin
over available members under capacity, the team's manager when nobody is.

`route` decides and explains; it writes only the round-robin state (with the team row
locked, inside the caller's transaction). routing.services records the decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count
from django.utils import timezone

from leads.models import Lead
from leads.selectors import lead_facts
from leads.stages import Stage

from .models import Assignment, OutOfOffice, RoutingRule, Team, TeamMembership

# The stages whose leads count against a rep's capacity.
LOAD_STAGES = (Stage.MQL, Stage.ACCEPTED)
# An open lead in one of these stages ties its account to its owner. Rejected leads do
# not: the rep said no (often "misrouted").
ACCOUNT_STAGES = (Stage.MQL, Stage.ACCEPTED, Stage.SQL, Stage.NURTURE)


@dataclass
class Routing:
    owner: Any  # a user, or None when nobody could be found
    kind: str
    team: Team | None = None
    rule: RoutingRule | None = None
    lines: list[str] = field(default_factory=list)


def person(user: Any) -> str:
    return (user.get_full_name() or user.username) if user is not None else "nobody"


# --- rules (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Conditions:
    countries: tuple[str, ...] = ()
    region: str = ""
    segment: str = ""
    industry: str = ""
    product_line: str = ""
    source: str = ""
    employees_min: int | None = None
    employees_max: int | None = None
    priority: str = ""

    @classmethod
    def of(cls, rule: RoutingRule) -> Conditions:
        return cls(
            countries=tuple(rule.country_list()),
            region=rule.region,
            segment=rule.segment,
            industry=rule.industry,
            product_line=rule.product_line.code if rule.product_line_id else "",
            source=rule.source,
            employees_min=rule.employees_min,
            employees_max=rule.employees_max,
            priority=rule.priority,
        )

    def describe(self) -> str:
        parts = []
        if self.countries:
            parts.append("country " + ", ".join(self.countries))
        for label, value in (
            ("region", self.region),
            ("segment", self.segment),
            ("industry", self.industry),
            ("product line", self.product_line),
            ("source", self.source),
            ("priority", self.priority),
        ):
            if value:
                parts.append(f"{label} {value}")
        if self.employees_min is not None or self.employees_max is not None:
            low = self.employees_min if self.employees_min is not None else 0
            high = self.employees_max if self.employees_max is not None else "any"
            parts.append(f"employees {low} to {high}")
        return "; ".join(parts) or "any lead"


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == (b or "").strip().casefold()


def matches(conditions: Conditions, facts: Mapping[str, Any], priority: str) -> bool:
    """Every condition set must hold; a blank one matches anything. An unknown fact
    (e.g. no employee count) fails a condition that asks about it."""
    if conditions.countries and (facts.get("country") or "").upper() not in conditions.countries:
        return False
    for name in ("region", "segment", "industry", "product_line", "source"):
        wanted = getattr(conditions, name)
        if wanted and not _same(wanted, facts.get(name) or ""):
            return False
    if conditions.priority and conditions.priority != priority:
        return False
    employees = facts.get("employee_count")
    if conditions.employees_min is not None and (
        employees is None or employees < conditions.employees_min
    ):
        return False
    return not (
        conditions.employees_max is not None
        and (employees is None or employees > conditions.employees_max)
    )


# --- queries --------------------------------------------------------------------------


def out_of_office_ids(user_ids: Collection[int], day: dt.date) -> set[int]:
    return set(
        OutOfOffice.objects.filter(
            user_id__in=list(user_ids), unavailable_from__lte=day, unavailable_to__gte=day
        ).values_list("user_id", flat=True)
    )


def open_load(user_ids: Collection[int]) -> dict[int, int]:
    """Open MQL + accepted leads per rep, across all teams (a rep has one desk)."""
    rows = (
        Lead.objects.filter(owner_id__in=list(user_ids), stage__in=LOAD_STAGES)
        .filter(archived_at__isnull=True)
        .values("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    return dict(rows)


def team_of_user(user: Any) -> Team | None:
    if user is None:
        return None
    membership = (
        TeamMembership.objects.filter(user=user, active=True, team__active=True)
        .select_related("team")
        .order_by("pk")
        .first()
    )
    return membership.team if membership else None


def team_of(lead: Lead) -> Team | None:
    """The lead's team: where it was last routed, else its owner's first team."""
    latest = (
        Assignment.objects.filter(lead=lead, team__isnull=False)
        .select_related("team__manager")
        .order_by("-at", "-pk")
        .first()
    )
    if latest is not None:
        return latest.team
    return team_of_user(lead.owner) if lead.owner_id else None


def dispute_owner(lead: Lead) -> Any:
    """A disputed rejection goes to the manager of the rejecting rep's team (None: keep)."""
    team = team_of(lead)
    return team.manager if team is not None else None


# --- the decision ---------------------------------------------------------------------


def _account_match(lead: Lead, day: dt.date, exclude: Collection[int]) -> Routing | None:
    if lead.account_id is None:
        return None
    other = (
        Lead.objects.filter(
            account_id=lead.account_id,
            archived_at__isnull=True,
            stage__in=ACCOUNT_STAGES,
            owner__isnull=False,
            owner__is_active=True,
        )
        .exclude(pk=lead.pk)
        .exclude(owner_id__in=list(exclude))
        .select_related("owner")
        .order_by("-stage_entered_at", "-pk")
        .first()
    )
    if other is None:
        return None
    account = lead.account.name
    if other.owner_id in out_of_office_ids([other.owner_id], day):
        return Routing(
            owner=None,
            kind="",
            lines=[
                f"{person(other.owner)} works {account} but is out of office: routed by the "
                "rules instead."
            ],
        )
    # One rep per account weighs more than load: capacity is not checked here.
    return Routing(
        owner=other.owner,
        kind=Assignment.Kind.ACCOUNT,
        team=team_of_user(other.owner),
        lines=[
            f"Account match: {person(other.owner)} already works {account} "
            f"({other.name}, {other.get_stage_display()})."
        ],
    )


def pick_team(lead: Lead) -> tuple[Team | None, RoutingRule | None, list[str]]:
    facts = lead_facts(lead)
    lines: list[str] = []
    rules = RoutingRule.objects.filter(active=True).select_related("team__manager", "product_line")
    for rule in rules.order_by("order", "pk"):
        conditions = Conditions.of(rule)
        if not matches(conditions, facts, lead.priority):
            continue
        if not rule.team.active:
            lines.append(f"Rule '{rule.name}' matched, but team {rule.team} is inactive.")
            continue
        lines.append(f"Rule '{rule.name}' matched ({conditions.describe()}): team {rule.team}.")
        return rule.team, rule, lines
    default = Team.objects.filter(is_default=True, active=True).first()
    if default is None:
        lines.append("No routing rule matched and there is no default team.")
        return None, None, lines
    lines.append(f"No routing rule matched: the default team {default} takes it.")
    return default, None, lines


def pick_member(team: Team, day: dt.date, exclude: Collection[int] = ()) -> tuple[Any, list[str]]:
    """Smooth weighted round robin over the members who can take a lead now.

    Must run inside a transaction: the team row is locked, so assignments into one team
    are serialised, each sees the capacity its predecessors used, and the round-robin
    state is never read stale. Over any run in which the same members are eligible, rep i
    gets exactly weight_i / sum(weights) of the leads (per full cycle of sum(weights)).
    """
    Team.objects.select_for_update().filter(pk=team.pk).first()
    memberships = list(
        TeamMembership.objects.filter(team=team, active=True).select_related("user", "team")
    )
    ids = [m.user_id for m in memberships]
    away = out_of_office_ids(ids, day)
    load = open_load(ids)
    lines: list[str] = []
    eligible: list[TeamMembership] = []
    for m in memberships:
        name = person(m.user)
        if not m.user.is_active:
            lines.append(f"{name} skipped: account deactivated.")
        elif m.user_id in exclude:
            lines.append(f"{name} skipped: the lead is being taken away from them.")
        elif m.user_id in away:
            lines.append(f"{name} skipped: out of office.")
        elif load.get(m.user_id, 0) >= m.capacity:
            lines.append(
                f"{name} skipped: at capacity ({load.get(m.user_id, 0)} of {m.capacity} "
                "open MQL and accepted leads)."
            )
        else:
            eligible.append(m)
    if not eligible:
        return None, lines
    total = sum(m.weight for m in eligible)
    for m in eligible:
        m.current_weight += m.weight
    # ties go to the earliest member, so the order is deterministic
    chosen = max(eligible, key=lambda m: (m.current_weight, -m.pk))
    chosen.current_weight -= total
    TeamMembership.objects.bulk_update(eligible, ["current_weight"])
    lines.append(
        f"Weighted round robin in {team}: {person(chosen.user)} "
        f"(weight {chosen.weight} of {total} among {len(eligible)} available)."
    )
    return chosen.user, lines


def route(*, lead: Lead, at: dt.datetime, exclude: Collection[int] = ()) -> Routing:
    """Decide who should own `lead`: never one of `exclude` (user ids), unless it is the
    team's manager catching what nobody else can take."""
    day = timezone.localdate(at)
    lines: list[str] = []
    matched = _account_match(lead, day, exclude)
    if matched is not None:
        if matched.owner is not None:
            return matched
        lines += matched.lines
    team, rule, rule_lines = pick_team(lead)
    lines += rule_lines
    if team is None:
        return Routing(owner=None, kind=Assignment.Kind.UNASSIGNED, lines=lines)
    owner, member_lines = pick_member(team, day, exclude)
    lines += member_lines
    if owner is not None:
        return Routing(owner=owner, kind=Assignment.Kind.RULE, team=team, rule=rule, lines=lines)
    lines.append(f"Nobody in {team} is available: the team's manager, {person(team.manager)}.")
    return Routing(
        owner=team.manager, kind=Assignment.Kind.MANAGER, team=team, rule=rule, lines=lines
    )
