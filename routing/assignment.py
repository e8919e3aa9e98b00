"""Who should own a lead, and why: account match, routing rules, weighted round robin
over available members under capacity, the team's manager when nobody is.

`route` decides and explains; it writes only the round-robin state (with the team row
locked, inside the caller's transaction). routing.services records the decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from leads.models import Lead
from leads.selectors import lead_facts, person_name
from leads.stages import STAGE_LABELS, Stage

from .models import Assignment, OutOfOffice, RoutingRule, Team, TeamMembership

# The stages whose leads count against a rep's capacity.
LOAD_STAGES = (Stage.MQL, Stage.ACCEPTED)
# An open lead in one of these stages ties its account to its owner. Rejected leads do
# not: the rep said no (often "misrouted").
ACCOUNT_STAGES = (Stage.MQL, Stage.ACCEPTED, Stage.SQL, Stage.NURTURE)
# what an account match reads of the account's other leads
OTHER_FIELDS = ("pk", "account_id", "first_name", "last_name", "email", "stage", "owner_id")


@dataclass
class Routing:
    owner: Any  # a user, or None when nobody could be found
    kind: str
    team: Team | None = None
    rule: RoutingRule | None = None
    lines: list[str] = field(default_factory=list)


def person(user: Any) -> str:
    """A user as routing's explanations and notifications name them: "nobody" for none."""
    return person_name(user) if user is not None else "nobody"


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
    """The lead's team: where it was last routed (Lead.routed_team), else its owner's
    first team."""
    if lead.routed_team_id is not None:
        return Team.objects.select_related("manager").get(pk=lead.routed_team_id)
    return team_of_user(lead.owner) if lead.owner_id else None


def dispute_owner(lead: Lead) -> Any:
    """A disputed rejection goes to the manager of the rejecting rep's team (None: keep)."""
    team = team_of(lead)
    return team.manager if team is not None else None


# --- the decision ---------------------------------------------------------------------


def _first_rule(
    lead: Lead, rules: list[tuple[RoutingRule, Conditions]], default: Callable[[], Team | None]
) -> tuple[Team | None, RoutingRule | None, list[str]]:
    facts = lead_facts(lead)
    lines: list[str] = []
    for rule, conditions in rules:
        if not matches(conditions, facts, lead.priority):
            continue
        if not rule.team.active:
            lines.append(f"Rule '{rule.name}' matched, but team {rule.team} is inactive.")
            continue
        lines.append(f"Rule '{rule.name}' matched ({conditions.describe()}): team {rule.team}.")
        return rule.team, rule, lines
    team = default()
    if team is None:
        lines.append("No routing rule matched and there is no default team.")
        return None, None, lines
    lines.append(f"No routing rule matched: the default team {team} takes it.")
    return team, None, lines


def _active_rules() -> list[tuple[RoutingRule, Conditions]]:
    rules = RoutingRule.objects.filter(active=True).select_related("team__manager", "product_line")
    return [(rule, Conditions.of(rule)) for rule in rules.order_by("order", "pk")]


def _default_team() -> Callable[[], Team | None]:
    found: list[Team | None] = []

    def default() -> Team | None:
        if not found:  # read once, when a lead needs it
            found.append(
                Team.objects.filter(is_default=True, active=True).select_related("manager").first()
            )
        return found[0]

    return default


def pick_team(lead: Lead) -> tuple[Team | None, RoutingRule | None, list[str]]:
    return _first_rule(lead, _active_rules(), _default_team())


def _choose_member(
    team: Team,
    memberships: list[TeamMembership],
    away: Collection[int],
    load: Mapping[int, int],
    exclude: Collection[int],
) -> tuple[Any, list[str], list[TeamMembership]]:
    """One step of the smooth weighted round robin, in memory: the member chosen (None:
    nobody can take it), why, and the memberships whose state changed."""
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
        return None, lines, []
    total = sum(m.weight for m in eligible)
    for m in eligible:
        m.current_weight += m.weight
    # ties go to the earliest member, so the order is deterministic
    chosen = max(eligible, key=lambda m: (m.current_weight, -m.pk))
    chosen.current_weight -= total
    lines.append(
        f"Weighted round robin in {team}: {person(chosen.user)} "
        f"(weight {chosen.weight} of {total} among {len(eligible)} available)."
    )
    return chosen.user, lines, eligible


def _lock_teams(pks: list[int]) -> None:
    """Serialise the routing into these teams until the transaction ends, in primary-key
    order. FOR NO KEY UPDATE, not FOR UPDATE: a transaction that only refers to a team
    (a lead routed there, an assignment) checks its reference when it commits, and under
    FOR UPDATE would wait for the routing, which may be waiting for it: a deadlock."""
    list(Team.objects.select_for_update(no_key=True).filter(pk__in=pks).order_by("pk"))


def pick_member(team: Team, day: dt.date, exclude: Collection[int] = ()) -> tuple[Any, list[str]]:
    """Smooth weighted round robin over the members who can take a lead now.

    Must run inside a transaction: the team row is locked, so assignments into one team
    are serialised, each sees the capacity its predecessors used, and the round-robin
    state is never read stale. Over any run in which the same members are eligible, rep i
    gets exactly weight_i / sum(weights) of the leads (per full cycle of sum(weights)).
    """
    _lock_teams([team.pk])
    memberships = list(
        TeamMembership.objects.filter(team=team, active=True).select_related("user", "team")
    )
    ids = [m.user_id for m in memberships]
    owner, lines, changed = _choose_member(
        team, memberships, out_of_office_ids(ids, day), open_load(ids), exclude
    )
    TeamMembership.objects.bulk_update(changed, ["current_weight"])
    return owner, lines


def route(*, lead: Lead, at: dt.datetime, exclude: Collection[int] = ()) -> Routing:
    """Decide who should own `lead`: never one of `exclude` (user ids), unless it is the
    team's manager catching what nobody else can take."""
    return route_many(leads=[lead], at=at, exclude={lead.pk: exclude})[lead.pk]


def route_many(
    *,
    leads: Sequence[Lead],
    at: dt.datetime,
    exclude: Mapping[int, Collection[int]] | None = None,
) -> dict[int, Routing]:
    """route() for many leads (exclude: user ids per lead pk), decided in order as if one
    after another: each decision sees the owners, round robin and load the earlier ones
    left, taking every lead routed to somebody as handed to them (the caller does so; a
    lead routed to nobody keeps its owner). Must run inside a transaction: the teams
    that may pick a member are locked (in primary-key order) before any is read, as
    pick_member does. A constant number of queries, however many leads."""
    exclude = exclude or {}
    day = timezone.localdate(at)
    rules = _active_rules()
    default = _default_team()
    picks = {lead.pk: _first_rule(lead, rules, default) for lead in leads}
    teams = {team.pk: team for team, _, _ in picks.values() if team is not None}
    memberships: dict[int, list[TeamMembership]] = {}
    if teams:
        _lock_teams(list(teams))
        for m in TeamMembership.objects.filter(team_id__in=list(teams), active=True).select_related(
            "user", "team"
        ):
            memberships.setdefault(m.team_id, []).append(m)
    members = {m.user_id for team_members in memberships.values() for m in team_members}
    load = open_load(members) if members else {}

    # Account matches: the newest other open lead of the account with an active owner
    # (read once; `owners` holds the owners this batch has given meanwhile).
    # Plain rows: a batch's accounts hold thousands of such leads, and building each as
    # a model cost more than reading it.
    accounts = {lead.account_id for lead in leads if lead.account_id}
    others: dict[int, list[Any]] = {}
    account_owners: dict[int, Any] = {}
    if accounts:
        rows = list(
            Lead.objects.filter(
                account_id__in=accounts, archived_at__isnull=True, stage__in=ACCOUNT_STAGES
            )
            .order_by("-stage_entered_at", "-pk")
            .values_list(*OTHER_FIELDS, named=True)
        )
        # their few owners, read once (not joined to each of thousands of leads)
        account_owners = get_user_model().objects.in_bulk(
            {other.owner_id for other in rows if other.owner_id}
        )
        for other in rows:
            others.setdefault(other.account_id, []).append(other)
    users = members | {o.owner_id for rows in others.values() for o in rows if o.owner_id}
    users |= {team.manager_id for team in teams.values() if team.manager_id}
    away = out_of_office_ids(users, day) if users else set()
    first_teams: dict[int, Team] = {}
    if others:
        for m in (
            TeamMembership.objects.filter(user_id__in=users, active=True, team__active=True)
            .select_related("team")
            .order_by("pk")
        ):
            first_teams.setdefault(m.user_id, m.team)
    owners: dict[int, Any] = {}

    def account_match(lead: Lead, excluded: Collection[int]) -> Routing | None:
        for other in others.get(lead.account_id, ()):
            owner = owners.get(other.pk, account_owners.get(other.owner_id))
            if other.pk == lead.pk or owner is None or not owner.is_active or owner.pk in excluded:
                continue
            account = lead.account.name
            if owner.pk in away:
                return Routing(
                    owner=None,
                    kind="",
                    lines=[
                        f"{person(owner)} works {account} but is out of office: routed by "
                        "the rules instead."
                    ],
                )
            # One rep per account weighs more than load: capacity is not checked here.
            return Routing(
                owner=owner,
                kind=Assignment.Kind.ACCOUNT,
                team=first_teams.get(owner.pk),
                lines=[
                    f"Account match: {person(owner)} already works {account} "
                    f"({Lead.name.fget(other)}, {STAGE_LABELS.get(other.stage, other.stage)})."
                ],
            )
        return None

    def decide(lead: Lead) -> Routing:
        excluded = exclude.get(lead.pk, ())
        lines: list[str] = []
        matched = account_match(lead, excluded) if lead.account_id else None
        if matched is not None:
            if matched.owner is not None:
                return matched
            lines += matched.lines
        team, rule, rule_lines = picks[lead.pk]
        lines += rule_lines
        if team is None:
            return Routing(owner=None, kind=Assignment.Kind.UNASSIGNED, lines=lines)
        owner, member_lines, turned = _choose_member(
            team, memberships.get(team.pk, []), away, load, excluded
        )
        changed.update({m.pk: m for m in turned})
        lines += member_lines
        if owner is not None:
            return Routing(
                owner=owner, kind=Assignment.Kind.RULE, team=team, rule=rule, lines=lines
            )
        lines.append(f"Nobody in {team} is available: the team's manager, {person(team.manager)}.")
        return Routing(
            owner=team.manager, kind=Assignment.Kind.MANAGER, team=team, rule=rule, lines=lines
        )

    changed: dict[int, TeamMembership] = {}
    decided: dict[int, Routing] = {}
    for lead in leads:
        routing = decided[lead.pk] = decide(lead)
        new, old = routing.owner, owners.get(lead.pk, lead.owner if lead.owner_id else None)
        if new is None or (old is not None and old.pk == new.pk):
            continue
        owners[lead.pk] = new
        if lead.stage in LOAD_STAGES and lead.archived_at is None:
            if old is not None:
                load[old.pk] = load.get(old.pk, 0) - 1
            load[new.pk] = load.get(new.pk, 0) + 1
    TeamMembership.objects.bulk_update(list(changed.values()), ["current_weight"])
    return decided
