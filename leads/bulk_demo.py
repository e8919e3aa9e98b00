"""The demo history at scale (`seed_demo --leads N` with N above BULK_THRESHOLD).

The small demo drives every lead through the services, which is what makes it trustworthy
and what makes it slow (about 0.1 s a lead). At hundreds of thousands of leads the same
story is written straight into the tables: the same channels, companies, criteria sets,
teams, SLA policies and decision habits as leads/demo.py, simulated in memory, and loaded
with PostgreSQL COPY in batches (bulk_create on other databases). Every lead's stage
changes replay to its stage, and every clock, touch and event belongs to its lead's story.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.utils import timezone

from qualification import scoring
from qualification.models import CriteriaSet, Reason
from qualification.selectors import rules_for
from routing.assignment import person
from routing.business_time import Timeline
from routing.models import (
    Assignment,
    BusinessCalendar,
    SlaClock,
    SlaPolicy,
    Team,
    TeamMembership,
)

from . import demo
from .milestones import note_stage_change
from .models import Account, EngagementEvent, Lead, StageChange, Touch
from .roles import SALES_REP
from .stages import OPEN_STAGES, SALES_STAGES, Stage

BULK_THRESHOLD = 2000
BATCH = 20_000

INDUSTRIES = [
    "Machinery",
    "Automotive",
    "Packaging",
    "Food & beverage",
    "Chemicals",
    "Utilities",
    "Pharmaceuticals",
    "Logistics",
    "Retail",
    "Construction",
]
COUNTRIES = (
    ["DE"] * 5
    + ["AT", "CH", "PL", "CZ", "DK", "SE", "NL", "BE", "FR"] * 2
    + ["US", "BR", "GB", "IT", "ES"]
)
SEGMENTS = [
    ("enterprise", (1000, 20000)),
    ("mid_market", (200, 999)),
    ("small_business", (10, 199)),
]
SUFFIXES = ["Werke", "Industries", "Systems", "Group", "Technik"]


@dataclass
class Tables:
    """Rows waiting to be written, per model."""

    rows: dict[type[models.Model], list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, model: type[models.Model], **values: Any) -> None:
        self.rows.setdefault(model, []).append(values)

    def count(self) -> int:
        return sum(len(v) for v in self.rows.values())


def _next_ids(*models_: type[models.Model]) -> dict[type[models.Model], int]:
    with connection.cursor() as cursor:
        out = {}
        for model in models_:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {model._meta.db_table}")
            out[model] = cursor.fetchone()[0] + 1
    return out


def _skip_row_triggers() -> None:
    """Foreign keys are checked by one trigger call per row; generated rows are consistent
    by construction, so a superuser load skips them for this transaction (about three
    times faster). Without the privilege the load is just slower."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")


def _reset_sequences(*models_: type[models.Model]) -> None:
    with connection.cursor() as cursor:
        for model in models_:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )


_MISSING = object()


def _columns(model: type[models.Model], sample: dict[str, Any]) -> list[tuple[models.Field, Any]]:
    """The model's columns with the value to use when a row does not give one; the id
    column is left to the database unless the rows carry ids."""
    columns = []
    for f in model._meta.concrete_fields:
        if f.primary_key and f.attname not in sample:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            default = _MISSING  # filled with `now`
        else:
            default = f.get_default()  # "" for text fields without a default, None if null
        columns.append((f, default))
    return columns


def _json(value: Any) -> Any:
    if value is None:
        return None
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


# what the bulk story writes, parents first
MODELS = (Account, Lead, EngagementEvent, StageChange, Touch, SlaClock, Assignment)


def _write(tables: Tables, now: dt.datetime) -> None:
    """COPY each model's rows, parents first."""
    for model in MODELS:
        rows = tables.rows.get(model)
        if not rows:
            continue
        columns = _columns(model, rows[0])
        names = ", ".join(f'"{f.column}"' for f, _ in columns)
        plan = [
            (f.attname, now if default is _MISSING else default, isinstance(f, models.JSONField))
            for f, default in columns
        ]
        json_columns = [i for i, (_, _, is_json) in enumerate(plan) if is_json]
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {model._meta.db_table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                values = [row.get(name, default) for name, default, _ in plan]
                for i in json_columns:
                    values[i] = _json(values[i])
                copy.write_row(values)
    tables.rows.clear()


@dataclass
class World:
    """What the simulation needs from the database, loaded once."""

    now: dt.datetime
    criteria: dict[str, CriteriaSet]
    rules: dict[str, tuple]
    reps: list[Any]
    bias: dict[int, float]
    marketing: Any
    reasons: dict[str, int]
    policy: dict[str, SlaPolicy]
    timeline: Timeline
    event_points: dict[str, dict[str, int]]
    fit_fields: dict[str, tuple[str, ...]]
    # each rep's team (id, what the routing explanation says of it and of the rep)
    desks: dict[int, tuple[int, str, str]]
    fit_memo: dict[tuple, tuple[int, bool]] = field(default_factory=dict)
    # per account: its contacts' summed engagement so far, and whether one of them is
    # with sales (the account-MQL rule's inputs, see _account_mql)
    accounts: dict[int, list] = field(default_factory=dict)


def _load_world(now: dt.datetime, reps_wanted: int) -> World:
    User = get_user_model()
    rep_group = Group.objects.get(name=SALES_REP)
    reps = list(User.objects.filter(groups=rep_group).order_by("pk"))
    east = Team.objects.get(name="Industrial East")
    for i in range(len(reps), reps_wanted):
        user = User.objects.create_user(
            f"rep{i:03d}", first_name="Rep", last_name=f"{i:03d}", password=None
        )
        user.groups.add(rep_group)
        TeamMembership.objects.create(team=east, user=user, weight=1)
        reps.append(user)
    criteria = {c.product_line.code: c for c in CriteriaSet.objects.filter(status="active")}
    rules = {code: rules_for(c) for code, c in criteria.items()}
    event_points: dict[str, dict[str, int]] = {}
    for code, rule_set in rules.items():
        points: dict[str, int] = {}
        for rule in rule_set:
            if isinstance(rule, scoring.EngagementRule) and not rule.url_pattern:
                points[rule.event_kind] = points.get(rule.event_kind, 0) + rule.points
        points.setdefault("page_view", 2)
        event_points[code] = points
    calendar_row = BusinessCalendar.objects.prefetch_related("holidays").first()
    fit_fields = {
        code: tuple(sorted({r.field for r in rule_set if isinstance(r, scoring.FitRule)}))
        for code, rule_set in rules.items()
    }
    return World(
        now=now,
        criteria=criteria,
        rules=rules,
        reps=reps,
        bias={u.pk: demo.REJECT_BIAS.get(u.username, 0.02) for u in reps},
        marketing=User.objects.get(username="marketing"),
        reasons=dict(Reason.objects.values_list("code", "pk")),
        policy={p.priority: p for p in SlaPolicy.objects.filter(active=True, source="")},
        # clocks of a year of history: laid out once, answered by binary search
        timeline=Timeline(
            calendar_row.as_calendar(),
            (now - dt.timedelta(days=400)).date(),
            (now + dt.timedelta(days=120)).date(),
        ),
        event_points=event_points,
        fit_fields=fit_fields,
        desks={
            m.user_id: (m.team_id, str(m.team), person(m.user))
            for m in TeamMembership.objects.filter(user__in=reps, active=True, team__active=True)
            .select_related("team", "user")
            .order_by("-pk")  # the first membership wins, as routing.assignment.team_of_user
        },
    )


def _fit(world: World, line: str, facts: dict[str, Any]) -> tuple[int, bool]:
    key = (line, *(facts.get(name) for name in world.fit_fields[line]))
    hit = world.fit_memo.get(key)
    if hit is None:
        rule_set = world.rules[line]
        result = scoring.score(facts, [], rule_set, now=world.now, half_life_days=30)
        hit = (result.fit, scoring.must_haves_pass(facts, rule_set)[0])
        world.fit_memo[key] = hit
    return hit


class Story:
    """One lead's simulated history, collected as rows."""

    def __init__(self, world: World, tables: Tables, lead_id: int, lead: dict[str, Any]):
        self.world, self.tables, self.lead_id, self.lead = world, tables, lead_id, lead
        self.stage = Stage.NEW
        self.at = lead["created_at"]

    def move(
        self,
        transition: str,
        to: str,
        at: dt.datetime,
        actor: int | None = None,
        reason: str | None = None,
        note: str = "",
        details: dict | None = None,
    ) -> None:
        scores = {
            "fit_score": self.lead["fit_score"],
            "engagement_score": self.lead["engagement_score"],
            "criteria_set_id": self.lead["criteria_set_id"],
        }
        self.tables.add(
            StageChange,
            lead_id=self.lead_id,
            from_stage=self.stage,
            to_stage=to,
            transition=transition,
            actor_id=actor,
            at=at,
            reason_id=self.world.reasons[reason] if reason else None,
            note=note,
            checklist_snapshot=[],
            details=details or {},
            **scores,
        )
        note_stage_change(self.lead, self.stage, to, at, **scores)  # the lead's first times
        self.stage, self.at = to, at

    def clock(
        self, kind: str, start: dt.datetime, stop: dt.datetime | None, stopped_by: str = ""
    ) -> None:
        policy = self.world.policy.get(self.lead["priority"]) or self.world.policy.get("standard")
        if policy is None:
            return
        minutes = getattr(policy, f"{kind}_minutes")
        if not minutes:
            return
        target = dt.timedelta(minutes=minutes)
        timeline = self.world.timeline
        due = timeline.add(start, target)
        warn = (
            timeline.add(start, target * policy.warning_percent / 100)
            if policy.warning_percent
            else None
        )
        values: dict[str, Any] = {
            "lead_id": self.lead_id,
            "kind": kind,
            "policy_id": policy.pk,
            "owner_id": self.lead["owner_id"] if kind != "disposition" else None,
            "target": target,
            "started_at": start,
            "due_at": due,
            "warn_at": warn,
        }
        if stop is None:  # running: the lead's most urgent due time (Lead.sla_due_at)
            current = self.lead.get("sla_due_at")
            self.lead["sla_due_at"] = due if current is None else min(current, due)
        if stop is not None:
            values.update(
                stopped_at=stop,
                stopped_by=stopped_by,
                outcome="met" if stop <= due else "breached",
                business_time=timeline.between(start, stop),
                breached_at=due if stop > due else None,
                warned_at=warn if warn is not None and stop > warn else None,
            )
        self.tables.add(SlaClock, **values)


def _simulate(
    world: World,
    tables: Tables,
    rng: random.Random,
    lead_id: int,
    account: dict[str, Any],
    created: dt.datetime,
    n: int,
) -> None:
    now = world.now
    channel = demo._pick(rng, {k: v[0] for k, v in demo.CHANNELS.items()})
    _share, intent, pattern, campaign = demo.CHANNELS[channel]
    line = (
        "field-service"
        if account["industry"] in ("Chemicals", "Utilities", "Pharmaceuticals")
        else "components"
    )
    criteria = world.criteria[line]
    role = demo._pick(
        rng,
        {
            "engineering": 4,
            "procurement": 3,
            "maintenance": 2,
            "operations": 2,
            "executive": 1,
            "other": 1.5,
        },
    )
    free = rng.random() < 0.07
    first, last = rng.choice(demo.FIRST_NAMES), rng.choice(demo.LAST_NAMES)
    facts = {
        "industry": account["industry"],
        "segment": account["segment"],
        "employee_count": account["employee_count"],
        "country": account["country"],
        "region": "",
        "role_category": role,
        "title": demo.TITLES[role],
        "phone": "x",
        "free_mail": free,
        "source": channel,
        "product_line": line,
        "domain": account["domain"],
    }
    fit, must_haves = _fit(world, line, facts)
    lead = {
        "email": f"{first}.{last}.{n}@{'gmail.com' if free else account['domain']}".lower(),
        "first_name": first,
        "last_name": last,
        "title": demo.TITLES[role],
        "role_category": role,
        "phone": "+49 30 555 0100",
        "country": account["country"],
        "free_mail": free,
        "account_id": None if free else account["id"],
        "source": channel,
        "campaign": campaign,
        "product_line_id": criteria.product_line_id,
        "priority": "standard",
        "owner_id": None,
        "fit_score": fit,
        "engagement_score": 0,
        # as a scoring finds it (leads.services.ready_for_handoff): every contact here
        # has its handoff fields but the account of a free-mail address
        "handoff_blocked": not must_haves
        or (free and "account" in (criteria.required_fields or [])),
        "criteria_set_id": criteria.pk,
        "created_at": created,
        "updated_at": now,
        "stage_entered_at": created,
        "mql_cycle": 0,
        "recycle_count": 0,
    }
    story = Story(world, tables, lead_id, lead)
    kinds = list(pattern) if rng.random() > 0.06 else []
    if kinds and rng.random() < intent:
        kinds += rng.sample(
            ["pricing_page_view", "page_view", "content_download", "spec_sheet_request"], 2
        )
    if kinds:  # web tracking: product page views around the lead's other activity
        kinds[1:1] = ["page_view"] * rng.randint(0, 4)
    points = world.event_points[line]
    t = created
    engagement = 0
    recorded: list[scoring.Event] = []
    mql_at = last_event = None
    for kind in kinds:
        t = t + dt.timedelta(hours=rng.uniform(0.2, 72))
        if t >= now:
            break
        tables.add(
            EngagementEvent,
            lead_id=lead_id,
            kind=kind,
            occurred_at=t,
            external_id=None,
            url="",
            content_tag=line,
            metadata={},
            created_at=t,
        )
        recorded.append(scoring.Event(kind=kind, occurred_at=t, url="", content_tag=line))
        last_event = t
        engagement += points.get(kind, 0)
        lead["engagement_score"] = engagement
        if story.stage == Stage.NEW:
            story.move("engage", Stage.ENGAGED, t)
        fast = kind in ("rfq_submitted", "meeting_booked") and must_haves
        if story.stage == Stage.ENGAGED and (
            fast or (fit >= criteria.fit_threshold and engagement >= criteria.engagement_threshold)
        ):
            if fast:
                lead["priority"] = "hot"
            lead["mql_cycle"] = 1
            story.move("qualify_mql", Stage.MQL, t)
            mql_at = t
    if mql_at is None and last_event is not None and must_haves:
        mql_at = _account_mql(world, story, criteria, last_event)
    if mql_at is not None:
        _work(world, story, rng, mql_at)
    if lead["account_id"] is not None:
        account = world.accounts.setdefault(lead["account_id"], [0, False])
        account[0] += engagement
        account[1] = account[1] or story.stage in SALES_STAGES
    lead["stage"] = story.stage
    lead["stage_entered_at"] = story.at
    if recorded and story.stage in OPEN_STAGES:
        # as the nightly refresh leaves an open lead (services.rescore):
        # its engagement decayed to today, the score its page explains line by line
        lead["engagement_score"] = scoring.score(
            facts,
            recorded[::-1],
            world.rules[line],
            now=now,
            half_life_days=criteria.engagement_half_life_days,
        ).engagement
    if story.stage == Stage.SQL:
        lead["next_step"] = "Technical workshop with their engineering team"
    tables.add(Lead, id=lead_id, **lead)


def _account_mql(
    world: World, story: Story, criteria: CriteriaSet, at: dt.datetime
) -> dt.datetime | None:
    """The account-MQL rule (leads.services._account_mqls) as the history meets it: an
    engaged contact whose events take its account's summed engagement to the criteria
    set's account threshold, while none of the account's contacts is with sales, becomes
    the account's MQL at its last event (it passes the must-have fit rules and has the
    handoff fields; the caller checked). Without it the bulk history had no account MQLs
    and left thousands of accounts over their threshold that the rule never lets stand,
    which the first event on any of their contacts then turned into an MQL."""
    lead = story.lead
    threshold = criteria.account_engagement_threshold
    if threshold is None or lead["account_id"] is None or story.stage != Stage.ENGAGED:
        return None
    total, with_sales = world.accounts.get(lead["account_id"], (0, False))
    total += lead["engagement_score"]
    if with_sales or total < threshold:
        return None
    lead["account_mql_reason"] = (
        f"Account engagement {total} reached the account threshold of {threshold}"
    )
    lead["mql_cycle"] = 1
    story.move("qualify_mql", Stage.MQL, at)
    return at


def _work(world: World, story: Story, rng: random.Random, mql_at: dt.datetime) -> None:
    lead, now = story.lead, world.now
    rep = world.reps[int(rng.random() ** 1.3 * len(world.reps))]
    lead["owner_id"] = rep.pk
    team_id, team, name = world.desks[rep.pk]
    lead["routed_team_id"] = team_id
    story.tables.add(  # who got it and why, as routing writes it
        Assignment,
        lead_id=story.lead_id,
        kind=Assignment.Kind.RULE,
        owner_id=rep.pk,
        team_id=team_id,
        explanation=[
            f"No routing rule matched: the default team {team} takes it.",
            f"Weighted round robin in {team}: {name}.",
        ],
        mql_cycle=1,
        at=mql_at,
    )
    quality = min(1.0, max(0.0, lead["fit_score"] / 100 + rng.gauss(0.2, 0.15)))
    decide = demo._at_work(mql_at + dt.timedelta(hours=rng.expovariate(1 / 1.5)), rng)
    if decide >= now:
        story.clock("decision", mql_at, None)
        return
    story.clock("decision", mql_at, decide, "reject")
    if rng.random() < world.bias[rep.pk] + (1 - quality) * 0.45:
        reason = demo._pick(
            rng,
            {
                "not-mql-definition": 4,
                "misrouted": 2,
                "incomplete-record": 2,
                "duplicate": 1,
                "bad-contact-data": 1,
                "rejection-other": 1,
            },
        )
        note = (
            "Asked only for a catalogue"
            if reason in ("not-mql-definition", "rejection-other")
            else ""
        )
        story.move("reject", Stage.REJECTED, decide, rep.pk, reason, note)
        at = decide + dt.timedelta(days=rng.uniform(0.5, 6))
        if at >= now:
            story.clock("disposition", decide, None)
            return
        roll = rng.random()
        if roll < 0.45:
            story.clock("disposition", decide, at, "recycle")
            lead["recycle_count"] = 1
            story.move(
                "recycle", Stage.NURTURE, at, world.marketing.pk, None, "Back to nurture emails"
            )
        elif roll < 0.8:
            story.clock("disposition", decide, at, "disqualify")
            story.move(
                "disqualify",
                Stage.DISQUALIFIED,
                at,
                world.marketing.pk,
                "spam" if lead["free_mail"] else "no-fit",
            )
        else:
            story.clock("disposition", decide, None)
        return
    story.move("accept", Stage.ACCEPTED, decide, rep.pk)
    touch = demo._at_work(decide + dt.timedelta(hours=rng.uniform(0.3, 6)), rng)
    if touch >= now:
        story.clock("first_touch", decide, None)
        story.clock("qualification", decide, None)
        return
    story.clock("first_touch", decide, touch, "touch")
    story.tables.add(
        Touch,
        lead_id=story.lead_id,
        kind="call",
        outcome="connected",
        note="Discussed the application.",
        by_id=rep.pk,
        occurred_at=touch,
        created_at=touch,
    )
    decided = touch + dt.timedelta(days=rng.uniform(1, 12))
    if decided >= now:
        story.clock("qualification", decide, None)
        return
    if rng.random() < quality:
        story.clock("qualification", decide, decided, "qualify_sql")
        story.move(
            "qualify_sql", Stage.SQL, decided, rep.pk, details={"next_step": "Technical workshop"}
        )
        won = decided + dt.timedelta(days=rng.uniform(5, 40))
        if won < now and rng.random() < 0.55 + quality * 0.3:
            story.move("convert", Stage.OPPORTUNITY, won, rep.pk)
        return
    story.clock("qualification", decide, decided, "nurture")
    if rng.random() < 0.6:
        follow = (decided + dt.timedelta(days=rng.randint(30, 150))).date()
        lead["follow_up_on"] = follow if follow > now.date() else None
        story.move(
            "nurture",
            Stage.NURTURE,
            decided,
            rep.pk,
            "no-budget-yet",
            details={"follow_up_on": follow.isoformat()},
        )
        if lead["follow_up_on"] is None:  # came back and went quiet: still nurture
            lead["follow_up_on"] = now.date() + dt.timedelta(days=rng.randint(5, 60))
    else:
        story.move("disqualify", Stage.DISQUALIFIED, decided, rep.pk, "no-fit")


def _accounts(rng: random.Random, count: int, start_id: int) -> list[dict[str, Any]]:
    accounts = []
    for i in range(count):
        segment, (low, high) = rng.choice(SEGMENTS)
        accounts.append(
            {
                "id": start_id + i,
                "name": f"{rng.choice(demo.LAST_NAMES)} {rng.choice(SUFFIXES)} {i}",
                "domain": f"company{start_id + i}.example",
                "industry": rng.choice(INDUSTRIES),
                "segment": segment,
                "employee_count": rng.randint(low, high),
                "country": rng.choice(COUNTRIES),
                "region": "",
            }
        )
    return accounts


def create_leads_bulk(
    *,
    count: int,
    months: int = 12,
    seed: int = 42,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write `count` leads of demo history in batches; returns row counts per table."""
    if connection.vendor != "postgresql":
        raise ValueError(
            f"More than {BULK_THRESHOLD} demo leads are written with PostgreSQL COPY: set "
            "DATABASE_URL to a PostgreSQL database."
        )
    now = now or timezone.now()
    rng = random.Random(seed)
    world = _load_world(now, reps_wanted=max(4, count // 20_000))
    ids = _next_ids(Account, Lead)
    accounts = _accounts(rng, max(20, count // 12), ids[Account])
    tables = Tables()
    for account in accounts:
        tables.add(Account, created_at=now, updated_at=now, **{k: v for k, v in account.items()})
    written: dict[str, int] = {}
    start = now - dt.timedelta(days=30 * months)
    span = (now - start).total_seconds()
    lead_id = ids[Lead]
    # Python simulates the next batch while PostgreSQL takes the previous one: a writer
    # thread, with its own connection, COPYs each batch in its own transaction.
    batches: queue.Queue[Tables | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (batch := batches.get()) is not None:
                with transaction.atomic():
                    _skip_row_triggers()
                    _write(batch, now)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            while batches.get() is not None:  # drain, so the producer never blocks
                pass
        finally:
            connection.close()

    thread = threading.Thread(target=writer, name="bulk-demo-writer")
    thread.start()
    try:
        for n in range(count):
            created = start + dt.timedelta(seconds=span * rng.random() ** 0.9)
            account = accounts[int(rng.random() ** 1.5 * len(accounts))]
            _simulate(world, tables, rng, lead_id + n, account, created, n)
            if tables.count() >= BATCH * 4 or n == count - 1:
                for model, rows in tables.rows.items():
                    written[model.__name__] = written.get(model.__name__, 0) + len(rows)
                batches.put(tables)
                tables = Tables()
                if failure:
                    break
                if progress:
                    progress(n + 1)
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]
    _reset_sequences(*MODELS)
    # Fresh planner statistics: without them PostgreSQL still plans for the tables as
    # they were before the load (a scan of millions of events for one batch's leads).
    with connection.cursor() as cursor:
        for model in MODELS:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return written
