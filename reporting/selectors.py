"""Read-only aggregate queries behind the manager reports.

Every report reads one cohort: the leads visible to the user, narrowed by the report
filters, that first became an MQL in the period ("cohort style": a lead stays in the
cohort of its first MQL date and is followed to today). The database counts; each
report is a constant number of queries whatever the number of leads, and Python only
post-processes the aggregated rows (a handful per channel, rep, week or score), e.g. for
Wilson intervals and score deciles.

Query shape, for scale: each lead keeps the first time it entered the funnel and
reached each stage (leads.milestones, set wherever an audit row is written), so the
cohort is an index range scan on Lead.first_mql_at, stage outcomes ("ever accepted",
"ever reached SQL") are columns of the lead and the funnel's times are differences of
columns: no report scans the stage history to find first times, and the scores the
first MQL's audit row records are kept on the lead too. The audit rows are still read
where their own values matter (decisions, reasons, checklist snapshots), through the
(lead, to_stage, at) index. Reports run with
PostgreSQL's JIT off (`report_queries`): compiling these aggregates costs more than it
saves.

Medians and 90th percentiles interpolate as PostgreSQL's percentile_cont does
(stats.percentiles), over the values the database lists per group (`_grouped_sets`):
one way on PostgreSQL and on SQLite (the quick start).

Attribution, decided once for every report:
- a lead's team is routing's `team_of`: the team it was last routed to, else its owner's
  first active team (one team per lead, nothing counted twice);
- a decision (accept or reject) belongs to the person who made it; system rejections
  (SLA returns) are counted in the funnel but not held against a rep;
- an SLA clock belongs to its owner; share met = met / (met + breached), where a clock
  still running past its due time counts as breached and a clock handed over before it
  was due (reassignment) counts as neither.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Field,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, TruncMonth, TruncWeek
from django.db.models.sql.where import AND
from django.utils import timezone

from leads.milestones import ENTERED_FUNNEL, FIRST_REACHED
from leads.models import Lead, StageChange
from leads.stages import Stage
from qualification.models import ChecklistItem, CriteriaSet, Reason
from routing.models import ClockKind, SlaClock, Team, TeamMembership

from . import stats
from .models import ReportTargets

DAY = 86400.0
HOUR = 3600.0

# --- building blocks ----------------------------------------------------------------------


# PostgreSQL's binary form of a one-dimensional array of floats without nulls (array_send):
# ndim, has-nulls flag, element type, length, lower bound, then a length and a big-endian
# double for each value
_ARRAY_HEADER = struct.Struct(">iiiii")
_ARRAY_ITEM = np.dtype([("length", ">i4"), ("value", ">f8")])


class Values(Aggregate):
    """A group's values as a float array, in no order (empty values are left out by the
    caller's filter). PostgreSQL: handoff_values (reporting migration 0002), which
    parallel workers collect and the leader joins, and which answers in the binary form
    (array_send) that numpy reads directly, instead of a Python float per value.
    SQLite: json_group_array."""

    function = "HANDOFF_VALUES"
    output_field = Field()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra_context)

    def convert_value(self, value, expression, connection) -> np.ndarray:
        if value is None:
            return np.empty(0)
        if isinstance(value, str):  # SQLite's JSON text
            return np.array(json.loads(value), dtype=float)
        value = bytes(value)
        if len(value) < _ARRAY_HEADER.size:  # no dimension: empty
            return np.empty(0)
        dimensions, has_nulls, _, _, _ = _ARRAY_HEADER.unpack_from(value)
        if dimensions != 1 or has_nulls:
            raise ValueError("handoff_values gives a flat array without nulls")
        items = np.frombuffer(value, dtype=_ARRAY_ITEM, offset=_ARRAY_HEADER.size)
        return items["value"].astype(float)


class Seconds(Func):
    """A duration in seconds, as a float. PostgreSQL: date_part, which computes in
    floating point; EXTRACT computes a numeric, exactly and slowly (the funnel's cohort
    query: 0.60 to 0.65 s with EXTRACT cast to a float, 0.37 s with date_part, whose
    values differ from it by less than a nanosecond). SQLite keeps durations (and
    differences of times) in microseconds."""

    template = "date_part('epoch', %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "(CAST(%(expressions)s AS REAL) / 1000000.0)"
        return super().as_sql(compiler, connection, template=template, **extra_context)


# A duration measure: a DurationField name, or a (start, end) pair of datetime names.
Measure = str | tuple[str, str]


def _seconds(measure: Measure) -> Seconds:
    if isinstance(measure, str):
        return Seconds(F(measure))
    start, end = measure
    return Seconds(ExpressionWrapper(F(end) - F(start), output_field=DurationField()))


class Epoch(Func):
    """A time as seconds since 1970-01-01 UTC, a float. PostgreSQL: date_part, to the
    microsecond. SQLite, which keeps times as UTC text: strftime, to the second (whole
    seconds cannot cross a week's start, which falls on a whole second)."""

    template = "date_part('epoch', %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra_context):
        # '%%%%s' is strftime's %s once this template and the SQLite backend's
        # placeholder conversion have each halved the percent signs
        template = "CAST(strftime('%%%%s', %(expressions)s) AS REAL)"
        return super().as_sql(compiler, connection, template=template, **extra_context)


def weeks_of(epochs: np.ndarray, tz: dt.tzinfo) -> dict[dt.date, int]:
    """How many of the times (seconds since 1970 UTC) fall in each week of time zone
    `tz`, by the week's Monday, as TruncWeek groups them. Each time zone's offset is a
    whole number of quarter hours, so a week starts on a quarter hour of UTC: the times
    are counted by quarter hour first (a year has 35,000 of them), then each quarter
    hour is placed in its week."""
    quarters, counts = np.unique(np.floor_divide(epochs, 900.0), return_counts=True)
    out: dict[dt.date, int] = defaultdict(int)
    for quarter, count in zip(quarters.tolist(), counts.tolist(), strict=True):
        day = dt.datetime.fromtimestamp(quarter * 900.0, tz).date()
        out[day - dt.timedelta(days=day.weekday())] += count
    return dict(out)


@contextmanager
def report_queries(alias: str = "default") -> Iterator[None]:
    """One transaction for a report's queries, with PostgreSQL's JIT off in it: the
    planner's costs at a million leads switch JIT on, and compiling the aggregates took
    longer than running them (seconds per report). More memory for hashes, too: Teams'
    sets of leads are hashed only when they fit. Parallel scans at a tenth of the cost
    PostgreSQL gives a row passed from a worker (parallel_tuple_cost): the reports compute
    times and cases for every row they read, work its cost model does not see, so it kept
    scans of the cohort's half a million leads in one process (the funnel's: 1.0 s alone,
    0.73 s in parallel). And sorts only where nothing else will do (enable_sort off): a
    report groups its rows into a few thousand groups at most, which hashing finds at
    once, but the planner expects a join on a time (a lead's first MQL change) to give
    one row and then sorts the 460,000 it gives (score calibration: 0.96 s, hashed
    0.76 s; rep calibration: 1.22 s, 0.91 s)."""
    # savepoint=False: inside a caller's transaction (tests) the settings apply to it
    with transaction.atomic(using=alias, savepoint=False):
        if connections[alias].vendor == "postgresql":
            with connections[alias].cursor() as cursor:
                cursor.execute(
                    "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; "
                    "SET LOCAL parallel_tuple_cost = 0.01; SET LOCAL enable_sort = off"
                )
        yield


def _grouped(
    qs: QuerySet,
    group: tuple[str, ...],
    counts: Mapping[str, Q | None],
    durations: Mapping[str, Measure] | None = None,
) -> dict[tuple, dict[str, Any]]:
    """Rows of `qs` grouped by `group`: `_grouped_sets` with one grouping."""
    return _grouped_sets(qs, [group], counts, durations)[0]


def _grouped_sets(
    qs: QuerySet,
    groups: Sequence[tuple[str, ...]],
    counts: Mapping[str, Q | None],
    durations: Mapping[str, Measure] | None = None,
    listed: Mapping[str, tuple[Func, Q]] | None = None,
) -> list[dict[tuple, dict[str, Any]]]:
    """Rows of `qs` grouped several ways, one result per grouping: for each group a count
    per condition and, for each duration measure, its median (`<name>_p50`), 90th
    percentile (`_p90`) and sample (`_n`), in seconds; for each `listed` (a float
    expression, the rows it is taken from), the values themselves, an array. The empty
    grouping () always has its one row.

    One query: the rows are grouped by every field of every grouping at once (the cells,
    a few thousand at most), each condition counted and each measure's values listed
    (Values). A grouping's counts are the sums of its cells' counts, its percentiles
    those of its cells' values together (stats.percentiles, as percentile_cont). On
    PostgreSQL the cells are counted and collected in parallel workers; GROUPING SETS
    with percentile_cont had sorted every row once per grouping, in one process (the
    SLA report at a million leads: 2.7 s for that query, now 0.8 s and 0.1 s of numpy)."""
    durations = durations or {}
    listed = listed or {}
    fields = list(dict.fromkeys(f for group in groups for f in group))
    measured = {f"_d_{name}": _seconds(measure) for name, measure in durations.items()}
    aggregates: dict[str, Any] = {
        name: Count("pk", filter=condition) if condition is not None else Count("pk")
        for name, condition in counts.items()
    }
    for name in durations:
        aggregates[f"_v_{name}"] = Values(f"_d_{name}", filter=Q(**{f"_d_{name}__isnull": False}))
    for name, (expression, rows_of) in listed.items():
        aggregates[f"_v_{name}"] = Values(expression, filter=rows_of)
    rows = qs.order_by().annotate(**measured)
    if fields:
        cells: Iterable[dict[str, Any]] = rows.values(*fields).annotate(**aggregates)
    else:
        cells = [rows.aggregate(**aggregates)]
    out: list[dict[tuple, dict[str, Any]]] = [{} for _ in groups]
    arrays: list[dict[tuple, dict[str, list[np.ndarray]]]] = [
        defaultdict(lambda: defaultdict(list)) for _ in groups
    ]
    for cell in cells:
        for k, group in enumerate(groups):
            key = tuple(cell[f] for f in group)
            row = out[k].get(key)
            if row is None:
                row = out[k][key] = {
                    **dict(zip(group, key, strict=True)),
                    **dict.fromkeys(counts, 0),
                }
            for name in counts:
                row[name] += cell[name]
            for name in (*durations, *listed):
                arrays[k][key][name].append(cell[f"_v_{name}"])
    for k, group in enumerate(groups):
        if not group and () not in out[k]:
            out[k][()] = dict.fromkeys(counts, 0)
        for key, row in out[k].items():
            for name in (*durations, *listed):
                parts = arrays[k][key][name]
                values = np.concatenate(parts) if parts else np.empty(0)
                if name in listed:
                    row[name] = values
                    continue
                row[f"{name}_p50"], row[f"{name}_p90"] = stats.percentiles(values, (0.5, 0.9))
                row[f"{name}_n"] = len(values)
    return out


@dataclass(frozen=True)
class Teams:
    """routing.assignment.team_of for many leads at once: the team a lead was last routed
    to (Lead.routed_team), else its owner's first active team.

    As SQL it is one CASE: the lead's routed team, then the owners' teams as literals
    (read here, a handful of rows). Reading each lead's latest assignment instead cost a
    lookup per row, and per team a search of every assignment for the latest ones."""

    owners: dict[int, tuple[int, ...]]  # team -> the users whose first active team it is

    @classmethod
    def load(cls) -> Teams:
        """Each user's first active membership of an active team: one query."""
        first: dict[int, int] = {}  # user -> their first active membership's team
        for user, team in (
            TeamMembership.objects.filter(active=True, team__active=True)
            .order_by("pk")
            .values_list("user", "team")
        ):
            first.setdefault(user, team)
        owners: dict[int, list[int]] = defaultdict(list)
        for user, team in first.items():
            owners[team].append(user)
        return cls(owners={team: tuple(users) for team, users in owners.items()})

    def of(self, lead_ref: str = "pk", owner_ref: str = "owner") -> Case:
        """The team of the lead at `lead_ref`, whose owner is at `owner_ref`."""
        routed = _routed_team(lead_ref)
        whens = [When(**{f"{routed}__isnull": False}, then=F(routed))] + [
            When(**{f"{owner_ref}__in": users}, then=Value(team))
            for team, users in self.owners.items()
        ]
        return Case(*whens, default=None, output_field=IntegerField())

    def leads_of(self, team: int, lead_ref: str = "pk", owner_ref: str = "owner") -> Q:
        """The same as `of(...) == team`, as a filter."""
        routed = _routed_team(lead_ref)
        return Q(**{routed: team}) | (
            Q(**{f"{owner_ref}__in": self.owners.get(team, ())}) & Q(**{f"{routed}__isnull": True})
        )


def _routed_team(lead_ref: str) -> str:
    return "routed_team" if lead_ref == "pk" else f"{lead_ref}__routed_team"


def _reached(stage: str, lead_ref: str = "") -> Q:
    """Whether the lead (`lead_ref` the path to it, "" for leads) ever entered `stage`."""
    prefix = f"{lead_ref}__" if lead_ref else ""
    return Q(**{f"{prefix}{FIRST_REACHED[stage]}__isnull": False})


@dataclass(frozen=True)
class ReportScope:
    """What a report covers: `leads` (visible to the user, narrowed by every filter but
    the period) and the period [start, end) of their first MQL."""

    leads: QuerySet[Lead]
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime
    targets: ReportTargets
    # Leads have no owner before they are MQLs: only a scope of all leads (marketing ops,
    # no team or rep filter) can say how many engaged leads became MQLs.
    covers_unowned: bool = True

    @cached_property
    def teams(self) -> Teams:
        return Teams.load()

    def cohort(self) -> QuerySet[Lead]:
        """The leads in scope whose first MQL lies in the period (Lead.first_mql_at)."""
        return self.leads.filter(first_mql_at__gte=self.start, first_mql_at__lt=self.end)

    def cohort_ids(self) -> QuerySet[Lead]:
        return self.cohort().values("pk")

    def of_cohort(self, rows: QuerySet, lead: str = "lead") -> QuerySet:
        """`rows` (stage changes, clocks...) whose lead, at the path `lead`, is in the
        cohort. The cohort's conditions go on the rows' own join to their lead when they
        read the lead table alone (every filter but the segment's): PostgreSQL then reads
        each lead once, in the parallel part of the plan, where `lead IN (cohort)` read it
        twice (the semi-join, then the join for the lead's columns, one index probe per
        row). Otherwise that subquery."""
        leads = self.leads.query
        used = [alias for alias, count in leads.alias_refcount.items() if count]
        if (
            used != [leads.base_table]
            or leads.distinct
            or leads.annotations
            or leads.is_sliced
            or leads.base_table != Lead._meta.db_table
        ):
            return rows.filter(**{f"{lead}__in": self.cohort_ids()})
        rows = rows.filter(
            **{f"{lead}__first_mql_at__gte": self.start, f"{lead}__first_mql_at__lt": self.end}
        )
        alias = rows.query.where.children[-1].lhs.alias  # the rows' join to the lead table
        where = leads.where.clone()
        if alias != leads.base_table:
            where = where.relabeled_clone({leads.base_table: alias})
        rows.query.where.add(where, AND)
        return rows

    def entries(self) -> QuerySet[Lead]:
        """The leads in scope that entered the funnel in the period."""
        return self.leads.filter(
            **{f"{ENTERED_FUNNEL}__gte": self.start, f"{ENTERED_FUNNEL}__lt": self.end}
        )

    def milestones(self) -> QuerySet[Lead]:
        """Each cohort lead with the first time it reached each stage."""
        return self.cohort().annotate(
            channel=F("source"),
            entered_at=F(ENTERED_FUNNEL),
            mql_at=F("first_mql_at"),
            accepted_at=F("first_accepted_at"),
            rejected_at=F("first_rejected_at"),
            sql_at=F("first_sql_at"),
            opportunity_at=F("first_opportunity_at"),
        )

    def weeks(self) -> list[dt.date]:
        """Mondays of the weeks the period touches (the current time zone's weeks)."""
        first = timezone.localtime(self.start).date()
        last = timezone.localtime(self.end - dt.timedelta(microseconds=1)).date()
        monday = first - dt.timedelta(days=first.weekday())
        weeks = []
        while monday <= last:
            weeks.append(monday)
            monday += dt.timedelta(days=7)
        return weeks


def _as_date(value) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def _names(user_ids: Iterable[int | None]) -> dict[int | None, str]:
    ids = {i for i in user_ids if i is not None}
    names: dict[int | None, str] = {None: "handoff (system)"}
    for pk, first, last, username in (
        get_user_model()
        .objects.filter(pk__in=ids)
        .values_list("pk", "first_name", "last_name", "username")
    ):
        names[pk] = f"{first} {last}".strip() or username
    return names


def _team_names(team_ids: Iterable[int | None]) -> dict[int | None, str]:
    names: dict[int | None, str] = {None: "No team"}
    names.update(Team.objects.filter(pk__in=[t for t in team_ids if t]).values_list("pk", "name"))
    return names


# --- 1. funnel ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelRow:
    key: str  # source channel, or "" for all channels
    label: str
    mqls: int
    accepted: int
    rejected: int
    sql: int
    opportunities: int
    still_open: int  # MQL or accepted today: their outcome is not known yet
    engaged: int | None = None  # leads that entered the funnel in the period
    engaged_to_mql: int | None = None

    @property
    def engaged_mql_rate(self):
        return stats.rate(self.engaged_to_mql, self.engaged)

    @property
    def accept_rate(self):
        return stats.rate(self.accepted, self.mqls)

    @property
    def reject_rate(self):
        return stats.rate(self.rejected, self.mqls)

    @property
    def accepted_sql_rate(self):
        return stats.rate(self.sql, self.accepted)

    @property
    def sql_opportunity_rate(self):
        return stats.rate(self.opportunities, self.sql)

    @property
    def mql_sql_rate(self):
        return stats.rate(self.sql, self.mqls)


@dataclass(frozen=True)
class Band:
    """The MQL -> SQL band marketing ops set, and what a rate means against it."""

    tighten_below: float
    industry_average: float
    target_low: float
    target_high: float
    too_high_above: float

    @classmethod
    def of(cls, targets: ReportTargets) -> Band:
        return cls(
            tighten_below=targets.fraction("mql_sql_tighten_below"),
            industry_average=targets.fraction("mql_sql_industry_average"),
            target_low=targets.fraction("mql_sql_target_low"),
            target_high=targets.fraction("mql_sql_target_high"),
            too_high_above=targets.fraction("mql_sql_too_high_above"),
        )

    def advice(self, value: float | None) -> str:
        if value is None:
            return "no data"
        if value < self.tighten_below:
            return "tighten the MQL definition"
        if value < self.industry_average:
            return "below the industry average"
        if value < self.target_low:
            return "above average, below the target band"
        if value <= self.target_high:
            return "in the target band"
        if value <= self.too_high_above:
            return "above the target band"
        return "the bar may be too high"


@dataclass(frozen=True)
class Velocity:
    label: str
    median_days: float | None
    p90_days: float | None
    leads: int
    by_channel: dict[str, float | None]


@dataclass(frozen=True)
class Flow:
    transition: str
    from_stage: str
    to_stage: str
    changes: int
    leads: int

    @property
    def label(self) -> str:
        return f"{Stage(self.from_stage).label} → {Stage(self.to_stage).label}"


@dataclass(frozen=True)
class FunnelReport:
    overall: FunnelRow
    channels: list[FunnelRow]
    velocity: list[Velocity]
    flows: list[Flow]
    band: Band

    @property
    def empty(self) -> bool:
        return self.overall.mqls == 0


VELOCITY_STEPS = (
    ("entered_mql", "Engaged → MQL", ("entered_at", "mql_at")),
    ("mql_accepted", "MQL → accepted", ("mql_at", "accepted_at")),
    ("accepted_sql", "Accepted → SQL", ("accepted_at", "sql_at")),
    ("sql_opportunity", "SQL → opportunity", ("sql_at", "opportunity_at")),
)
# The flows the funnel shows after the MQL: "no"s, recycling and the way back.
FLOW_ORDER = (
    ("accept", Stage.MQL, Stage.ACCEPTED),
    ("reject", Stage.MQL, Stage.REJECTED),
    ("recycle", Stage.REJECTED, Stage.NURTURE),
    ("dispute", Stage.REJECTED, Stage.MQL),
    ("disqualify", Stage.REJECTED, Stage.DISQUALIFIED),
    ("nurture", Stage.ACCEPTED, Stage.NURTURE),
    ("nurture", Stage.SQL, Stage.NURTURE),
    ("qualify_mql", Stage.NURTURE, Stage.MQL),
    ("disqualify", Stage.NURTURE, Stage.DISQUALIFIED),
    ("disqualify", Stage.MQL, Stage.DISQUALIFIED),
    ("disqualify", Stage.ACCEPTED, Stage.DISQUALIFIED),
    ("disqualify", Stage.SQL, Stage.DISQUALIFIED),
    ("qualify_sql", Stage.ACCEPTED, Stage.SQL),
    ("convert", Stage.SQL, Stage.OPPORTUNITY),
)


def funnel(scope: ReportScope) -> FunnelReport:
    counts = {
        "mqls": None,
        "accepted": Q(accepted_at__isnull=False),
        "rejected": Q(rejected_at__isnull=False),
        "sql": Q(sql_at__isnull=False),
        "opportunities": Q(opportunity_at__isnull=False),
        "still_open": Q(stage__in=[Stage.MQL, Stage.ACCEPTED]),
    }
    durations = {name: measure for name, _, measure in VELOCITY_STEPS}
    by_channel, overall_row = _grouped_sets(
        scope.milestones(), [("channel",), ()], counts, durations
    )
    nothing = {
        **dict.fromkeys(counts, 0),
        **{f"{n}_{part}": None for n in durations for part in ("p50", "p90", "n")},
    }
    figures = {
        None: overall_row.get((), nothing),
        **{s: by_channel.get((s,), nothing) for s in Lead.Source.values},
    }

    engaged: dict[str, dict[str, int]] | None = None
    if scope.covers_unowned:
        # leads that entered the funnel in the period, and how many of them became MQLs
        engaged = {
            r["source"]: r
            for r in scope.entries()
            .order_by()
            .values("source")
            .annotate(engaged=Count("pk"), engaged_to_mql=Count("pk", filter=_reached(Stage.MQL)))
        }

    def row(key: str | None, label: str) -> FunnelRow:
        values = figures[key]
        entered = None
        if engaged is not None:
            rows = list(engaged.values()) if key is None else [engaged.get(key, {})]
            entered = {
                name: sum(r.get(name, 0) for r in rows) for name in ("engaged", "engaged_to_mql")
            }
        return FunnelRow(
            key=key or "",
            label=label,
            **{name: values[name] or 0 for name in counts},
            engaged=entered["engaged"] if entered is not None else None,
            engaged_to_mql=entered["engaged_to_mql"] if entered is not None else None,
        )

    channels = [row(s, label) for s, label in Lead.Source.choices if figures[s]["mqls"]]
    overall = figures[None]
    velocity = [
        Velocity(
            label=label,
            median_days=_days(overall[f"{name}_p50"]),
            p90_days=_days(overall[f"{name}_p90"]),
            leads=overall[f"{name}_n"] or 0,
            by_channel={c.key: _days(figures[c.key][f"{name}_p50"]) for c in channels},
        )
        for name, label, _ in VELOCITY_STEPS
    ]
    return FunnelReport(
        overall=row(None, "All channels"),
        channels=channels,
        velocity=velocity,
        flows=_flows(scope),
        band=Band.of(scope.targets),
    )


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / DAY


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / HOUR


def _flows(scope: ReportScope) -> list[Flow]:
    # every change of a cohort lead from its first MQL on (nothing before an MQL starts
    # in mql, rejected, accepted, sql or nurture); a flow's leads counted from their ids,
    # listed in the parallel workers (Values): COUNT(DISTINCT) sorted the million changes
    # in one process (1.26 to 1.41 s against 0.77 to 0.81 s at a million leads)
    rows = (
        scope.of_cohort(StageChange.objects.all())
        .exclude(from_stage__in=[Stage.NEW, Stage.ENGAGED])
        .order_by()
        .values("transition", "from_stage", "to_stage")
        .annotate(changes=Count("pk"), lead_ids=Values(Cast("lead_id", FloatField())))
    )
    found = {(r["transition"], r["from_stage"], r["to_stage"]): r for r in rows}
    order = {key: i for i, key in enumerate(FLOW_ORDER)}
    return [
        Flow(*key, changes=r["changes"], leads=len(np.unique(r["lead_ids"])))
        for key, r in sorted(found.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    ]


# --- 2. SLA compliance ----------------------------------------------------------------------


@dataclass(frozen=True)
class SlaRow:
    key: Any
    label: str
    kind: str
    clocks: int
    met: int
    breached: int
    median_hours: float | None
    p90_hours: float | None

    @property
    def kind_label(self) -> str:
        return ClockKind(self.kind).label if self.kind else ""

    @property
    def met_share(self) -> float | None:
        return stats.rate(self.met, self.met + self.breached)


@dataclass(frozen=True)
class BreachWeek:
    week: dt.date
    by_kind: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass(frozen=True)
class SlaReport:
    by_kind: list[SlaRow]
    by_rep: list[SlaRow]
    by_team: list[SlaRow]
    breaches_by_week: list[BreachWeek]
    first_touch_by_source: list[SlaRow]

    @property
    def empty(self) -> bool:
        return not any(r.clocks for r in self.by_kind)


def _sla_counts(now: dt.datetime) -> dict[str, Q | None]:
    breached = Q(outcome=SlaClock.Outcome.BREACHED) | Q(stopped_at__isnull=True, due_at__lte=now)
    return {
        "clocks": None,
        "met": Q(outcome=SlaClock.Outcome.MET),
        "breached": breached,
    }


def sla_compliance(scope: ReportScope) -> SlaReport:
    clocks = scope.of_cohort(SlaClock.objects.all()).annotate(
        team=scope.teams.of("lead", "lead__owner"),
        acted_time=_acted_time(),
    )
    counts = _sla_counts(scope.now)
    durations = {"time": "acted_time"}
    # one pass over the cohort's clocks for the four groupings, with the due times of the
    # breached clocks for the breaches by week: at a million leads a second pass over the
    # cohort's clocks, grouped by week in the database, took 0.55 to 0.93 s; listing the
    # times in this one, no time that could be measured, and counting them by week here
    # 0.07 s
    kinds, by_owner, teams, by_source = _grouped_sets(
        clocks,
        [("kind",), ("owner", "kind"), ("team", "kind"), ("lead__source", "kind")],
        counts,
        durations,
        listed={"breached_due": (Epoch("due_at"), counts["breached"])},
    )
    reps = {key: v for key, v in by_owner.items() if key[0] is not None}
    touches = {
        (source,): v for (source, kind), v in by_source.items() if kind == ClockKind.FIRST_TOUCH
    }
    names = _names(key[0] for key in reps)
    team_names = _team_names(key[0] for key in teams)

    def sla_row(key, label, kind, values) -> SlaRow:
        return SlaRow(
            key=key,
            label=label,
            kind=kind,
            clocks=values["clocks"],
            met=values["met"],
            breached=values["breached"],
            median_hours=_hours(values["time_p50"]),
            p90_hours=_hours(values["time_p90"]),
        )

    kind_order = {k: i for i, k in enumerate(ClockKind.values)}
    by_week: dict[dt.date, dict[str, int]] = defaultdict(dict)
    zone = timezone.get_current_timezone()  # the weeks TruncWeek would give
    for (kind,), values in kinds.items():
        for monday, n in weeks_of(values["breached_due"], zone).items():
            by_week[monday][kind] = n
    return SlaReport(
        by_kind=[
            sla_row(kind, ClockKind(kind).label, kind, kinds[(kind,)])
            for kind in ClockKind.values
            if (kind,) in kinds
        ],
        by_rep=sorted(
            (sla_row(o, names.get(o, "?"), k, v) for (o, k), v in reps.items()),
            key=lambda r: (r.label, kind_order[r.kind]),
        ),
        by_team=sorted(
            (sla_row(t, team_names.get(t, "?"), k, v) for (t, k), v in teams.items()),
            key=lambda r: (r.key is None, r.label, kind_order[r.kind]),
        ),
        breaches_by_week=[
            BreachWeek(week, dict(by_week[week])) for week in sorted(by_week) if week is not None
        ],
        first_touch_by_source=[
            sla_row(s, label, ClockKind.FIRST_TOUCH, touches[(s,)])
            for s, label in Lead.Source.choices
            if (s,) in touches
        ],
    )


def _acted_time():
    """The clock's business time when it was stopped by the action (met or late);
    empty for running and handed-over clocks, which did not measure an action."""
    from django.db.models import Case, When

    return Case(
        When(
            outcome__in=[SlaClock.Outcome.MET, SlaClock.Outcome.BREACHED],
            then=F("business_time"),
        ),
        default=None,
        output_field=DurationField(),
    )


# --- 3. rep calibration ---------------------------------------------------------------------


@dataclass(frozen=True)
class RateCompare:
    """A rep's rate beside their team's, with both 95% Wilson intervals."""

    successes: int
    n: int
    team_successes: int
    team_n: int

    @property
    def value(self) -> float | None:
        return stats.rate(self.successes, self.n)

    @property
    def interval(self) -> stats.Interval | None:
        return stats.wilson(self.successes, self.n)

    @property
    def team_value(self) -> float | None:
        return stats.rate(self.team_successes, self.team_n)

    @property
    def team_interval(self) -> stats.Interval | None:
        return stats.wilson(self.team_successes, self.team_n)

    def outside_team(self, min_sample: int) -> bool:
        interval = self.team_interval
        return (
            self.n >= min_sample
            and interval is not None
            and self.value is not None
            and self.value not in interval
        )


@dataclass(frozen=True)
class RepCalibration:
    team: int | None
    team_label: str
    rep: int
    label: str
    received: int  # decided by the rep, plus MQLs waiting in their queue
    decided: int
    accept: RateCompare
    reject: RateCompare
    sql_of_accepted: RateCompare
    median_decision_hours: float | None
    top_reasons: list[tuple[str, int]]
    flags: list[str]


@dataclass(frozen=True)
class CalibrationReport:
    reps: list[RepCalibration]
    min_sample: int
    system_rejections: int

    @property
    def empty(self) -> bool:
        return not self.reps


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _flag(verb: str, compare: RateCompare, min_sample: int) -> str | None:
    if not compare.outside_team(min_sample):
        return None
    interval = compare.team_interval
    return (
        f"{verb} {_pct(compare.value)} vs team {_pct(compare.team_value)} "
        f"({interval.low * 100:.0f}{stats.DASH}{interval.high * 100:.0f}%)"
    )


def rep_calibration(scope: ReportScope) -> CalibrationReport:
    min_sample = scope.targets.calibration_min_sample
    decisions = scope.of_cohort(
        StageChange.objects.filter(from_stage=Stage.MQL, transition__in=["accept", "reject"])
    ).annotate(team=scope.teams.of("lead", "lead__owner"))
    # reached SQL after this decision: the lead's first SQL came later, or (a later cycle)
    # a later SQL row exists; only leads that were an SQL before are looked up
    reached_sql_later = Q(lead__first_sql_at__gt=F("at")) | (
        Q(lead__first_sql_at__lte=F("at"))
        & Exists(
            StageChange.objects.filter(
                lead=OuterRef("lead"), to_stage=Stage.SQL, at__gt=OuterRef("at")
            )
        )
    )
    # one pass over the cohort's decisions: per rep, per rep and reason, and in all
    by_rep, by_reason, overall = _grouped_sets(
        decisions,
        [("team", "actor"), ("actor", "transition", "reason__label"), ()],
        {
            "decided": None,
            "accepts": Q(transition="accept"),
            "rejects": Q(transition="reject"),
            "accepts_sql": Q(transition="accept") & reached_sql_later,
            "system_rejections": Q(actor__isnull=True, transition="reject"),
        },
    )
    rows = {key: v for key, v in by_rep.items() if key[1] is not None}
    system_rejections = overall.get((), {}).get("system_rejections") or 0
    waiting = {
        (r["team"], r["owner"]): r["n"]
        for r in scope.cohort()
        .filter(stage=Stage.MQL, owner__isnull=False)
        .annotate(team=scope.teams.of())
        .order_by()
        .values("team", "owner")
        .annotate(n=Count("pk"))
    }
    decision_clocks = scope.of_cohort(
        SlaClock.objects.filter(
            kind=ClockKind.DECISION,
            owner__isnull=False,
            outcome__in=[SlaClock.Outcome.MET, SlaClock.Outcome.BREACHED],
        )
    ).annotate(team=scope.teams.of("lead", "lead__owner"))
    times = _grouped(
        decision_clocks, ("team", "owner"), {"clocks": None}, {"time": "business_time"}
    )
    reasons: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for (actor, transition, label), v in sorted(
        by_reason.items(),
        key=lambda kv: (-kv[1]["decided"], kv[0][2] is None, kv[0][2] or ""),
    ):
        if actor is not None and transition == "reject":
            reasons[actor].append((label or "(none)", v["decided"]))

    teams: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (team, _), values in rows.items():
        for name in ("decided", "accepts", "rejects", "accepts_sql"):
            teams[team][name] += values[name]
    names = _names(key[1] for key in rows)
    team_names = _team_names(teams)
    result = []
    for (team, actor), v in rows.items():
        t = teams[team]
        accept = RateCompare(v["accepts"], v["decided"], t["accepts"], t["decided"])
        reject = RateCompare(v["rejects"], v["decided"], t["rejects"], t["decided"])
        sql = RateCompare(v["accepts_sql"], v["accepts"], t["accepts_sql"], t["accepts"])
        flags = [
            f
            for f in (
                _flag("rejects", reject, min_sample),
                _flag("qualifies to SQL", sql, min_sample),
            )
            if f
        ]
        timing = times.get((team, actor))
        result.append(
            RepCalibration(
                team=team,
                team_label=team_names.get(team, "?"),
                rep=actor,
                label=names.get(actor, "?"),
                received=v["decided"] + waiting.get((team, actor), 0),
                decided=v["decided"],
                accept=accept,
                reject=reject,
                sql_of_accepted=sql,
                median_decision_hours=_hours(timing["time_p50"]) if timing else None,
                top_reasons=reasons.get(actor, [])[:3],
                flags=flags,
            )
        )
    result.sort(key=lambda r: (r.team is None, r.team_label, r.label))
    return CalibrationReport(
        reps=result, min_sample=min_sample, system_rejections=system_rejections
    )


# --- 4. rejection reasons -------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonRow:
    reason: int | None
    label: str
    category: str
    system: bool  # recorded by handoff itself (an SLA return), not chosen by a rep
    expects_note: bool
    rejections: int
    without_note: int


@dataclass(frozen=True)
class RejectionReport:
    reasons: list[ReasonRow]
    by_category: list[tuple[str, int]]
    by_channel: dict[tuple[int | None, str], int]  # (reason, source) -> rejections
    channels: list[tuple[str, str]]
    by_rep: dict[tuple[int | None, int | None], int]  # (reason, actor) -> rejections
    reps: list[tuple[int | None, str]]
    missing_notes: list[StageChange]  # the latest ones, for follow-up

    @property
    def total(self) -> int:
        return sum(r.rejections for r in self.reasons)

    @property
    def other(self) -> int:
        # "Other" as a rep's choice; handoff's own SLA returns are not a choice
        return sum(
            r.rejections
            for r in self.reasons
            if r.category == Reason.Category.OTHER and not r.system
        )

    @property
    def other_share(self) -> float | None:
        return stats.rate(self.other, self.total)

    @property
    def without_expected_note(self) -> int:
        return sum(r.without_note for r in self.reasons if r.expects_note)

    @property
    def empty(self) -> bool:
        return self.total == 0


MISSING_NOTES_SHOWN = 50


def rejection_reasons(scope: ReportScope) -> RejectionReport:
    rejections = scope.of_cohort(StageChange.objects.filter(transition="reject"))
    expects_note = Q(reason__system=False) & (
        Q(reason__category=Reason.Category.OTHER) | Q(reason__requires_note=True)
    )
    # one pass over the cohort's rejections: per reason, per reason and channel or rep
    reason = ("reason", "reason__label", "reason__category", "reason__requires_note")
    per_reason, per_channel, per_rep = _grouped_sets(
        rejections,
        [(*reason, "reason__system"), ("reason", "lead__source"), ("reason", "actor")],
        {"n": None, "without_note": Q(note="")},
    )
    by_reason = per_reason.values()
    reasons = sorted(
        (
            ReasonRow(
                reason=r["reason"],
                label=r["reason__label"] or "(no reason)",
                category=r["reason__category"] or "",
                system=bool(r["reason__system"]),
                expects_note=not r["reason__system"]
                and (
                    r["reason__category"] == Reason.Category.OTHER
                    or bool(r["reason__requires_note"])
                ),
                rejections=r["n"],
                without_note=r["without_note"],
            )
            for r in by_reason
        ),
        key=lambda r: (-r.rejections, r.label),
    )
    by_category: dict[str, int] = defaultdict(int)
    for r in reasons:
        by_category[r.category] += r.rejections
    by_channel = {key: r["n"] for key, r in per_channel.items()}
    by_rep = {key: r["n"] for key, r in per_rep.items()}
    names = _names(actor for _, actor in by_rep)
    missing = list(
        rejections.filter(expects_note, note="")
        .select_related("lead", "actor", "reason")
        .order_by("-at", "-pk")[:MISSING_NOTES_SHOWN]
    )
    category_labels = dict(Reason.Category.choices)
    return RejectionReport(
        reasons=reasons,
        by_category=sorted(
            ((category_labels.get(c, c or "—"), n) for c, n in by_category.items()),
            key=lambda cn: (-cn[1], cn[0]),
        ),
        by_channel=by_channel,
        channels=[
            (s, label) for s, label in Lead.Source.choices if any(k[1] == s for k in by_channel)
        ],
        by_rep=by_rep,
        reps=sorted(((a, names.get(a, "?")) for a in {k[1] for k in by_rep}), key=lambda r: r[1]),
        missing_notes=missing,
    )


# --- 5. score calibration -------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreDimension:
    name: str  # "fit" or "engagement"
    label: str
    rows: list[stats.ScoreRow]
    bins: list[stats.ScoreBin]
    sql_rises: bool | None
    accept_rises: bool | None
    suggestion: stats.Threshold | None
    current: list[tuple[str, int]]  # criteria version label, its threshold


@dataclass(frozen=True)
class ScoreReport:
    dimensions: list[ScoreDimension]
    band: Band
    min_mqls: int
    versions: int

    @property
    def empty(self) -> bool:
        return not any(d.rows for d in self.dimensions)


def score_calibration(scope: ReportScope) -> ScoreReport:
    """MQLs by their score at their first MQL (the audit row's fit and engagement, kept
    on the lead with its first MQL time: leads.milestones)."""
    first_mqls = scope.cohort().annotate(
        fit=F("first_mql_fit_score"),
        engagement=F("first_mql_engagement_score"),
        version=F("first_mql_criteria_set"),
    )
    counts = {
        "mqls": None,
        "accepted": _reached(Stage.ACCEPTED),
        "sql": _reached(Stage.SQL),
    }
    band = Band.of(scope.targets)
    min_mqls = scope.targets.calibration_min_sample
    # one pass over the cohort: by fit, by engagement, by criteria version
    by_fit, by_engagement, by_version = _grouped_sets(
        first_mqls, [("fit",), ("engagement",), ("version",)], counts
    )
    versions = list(
        CriteriaSet.objects.filter(pk__in=[key[0] for key in by_version]).order_by(
            "product_line__name", "version"
        )
    )
    grouped = {"fit": by_fit, "engagement": by_engagement}
    dimensions = []
    for name, label, threshold in (
        ("fit", "Fit score", "fit_threshold"),
        ("engagement", "Engagement score", "engagement_threshold"),
    ):
        rows = [
            stats.ScoreRow(score=key[0], **{c: values[c] for c in counts})
            for key, values in grouped[name].items()
            if key[0] is not None
        ]
        rows.sort(key=lambda r: r.score)
        bins = stats.decile_bins(rows)
        dimensions.append(
            ScoreDimension(
                name=name,
                label=label,
                rows=rows,
                bins=bins,
                sql_rises=stats.rises([b.sql_rate for b in bins]),
                accept_rises=stats.rises([b.accept_rate for b in bins]),
                suggestion=stats.threshold_in_band(
                    rows, band.target_low, band.target_high, min_mqls=min_mqls
                ),
                current=[(f"{v.name} v{v.version}", getattr(v, threshold)) for v in versions],
            )
        )
    return ScoreReport(dimensions=dimensions, band=band, min_mqls=min_mqls, versions=len(versions))


# --- 6. service-level scorecard -------------------------------------------------------------


@dataclass(frozen=True)
class ScorecardWeek:
    week: dt.date
    mqls: int
    accepted: int
    decided: int
    decisions_met: int
    decisions_measured: int
    touches_met: int
    touches_measured: int

    @property
    def acceptance(self) -> float | None:
        return stats.rate(self.accepted, self.decided)

    @property
    def decisions_in_sla(self) -> float | None:
        return stats.rate(self.decisions_met, self.decisions_measured)

    @property
    def touches_in_sla(self) -> float | None:
        return stats.rate(self.touches_met, self.touches_measured)


@dataclass(frozen=True)
class ScorecardMonth:
    month: dt.date
    mqls: int
    partial: bool  # the period covers only part of the month


@dataclass(frozen=True)
class Scorecard:
    weeks: list[ScorecardWeek]
    months: list[ScorecardMonth]
    monthly_commitment: int | None
    acceptance_target: float
    total: ScorecardWeek  # the whole period, week = its first day

    @property
    def weekly_commitment(self) -> float | None:
        # a month is 52/12 weeks on average
        if self.monthly_commitment is None:
            return None
        return self.monthly_commitment * 12 / 52

    @property
    def empty(self) -> bool:
        return self.total.mqls == 0


def scorecard(scope: ReportScope) -> Scorecard:
    """Each row is one week's MQL cohort: what marketing delivered that week, and how
    sales treated those MQLs (decided, accepted, decided and touched within SLA)."""
    cohort = scope.cohort().annotate(
        week=TruncWeek("first_mql_at"), month=TruncMonth("first_mql_at")
    )
    accepted = _reached(Stage.ACCEPTED)
    lead_counts = {
        "mqls": None,
        "accepted": accepted,
        "decided": accepted | _reached(Stage.REJECTED),
    }
    by_week, by_month = _grouped_sets(cohort, [("week",), ("month",)], lead_counts)
    weeks = {_as_date(k[0]): v for k, v in by_week.items()}
    months = {_as_date(k[0]): v["mqls"] for k, v in by_month.items()}
    now = scope.now
    met = Q(outcome=SlaClock.Outcome.MET)
    measured = (
        met | Q(outcome=SlaClock.Outcome.BREACHED) | Q(stopped_at__isnull=True, due_at__lte=now)
    )
    clocks = scope.of_cohort(
        SlaClock.objects.filter(kind__in=[ClockKind.DECISION, ClockKind.FIRST_TOUCH])
    ).annotate(week=TruncWeek("lead__first_mql_at"))
    clock_rows = _grouped(clocks, ("week", "kind"), {"met": met, "measured": measured})
    by_week: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (week, kind), v in clock_rows.items():
        prefix = "decisions" if kind == ClockKind.DECISION else "touches"
        by_week[_as_date(week)][f"{prefix}_met"] += v["met"]
        by_week[_as_date(week)][f"{prefix}_measured"] += v["measured"]

    def week_row(week: dt.date, lead_values, clock_values) -> ScorecardWeek:
        return ScorecardWeek(
            week=week,
            mqls=lead_values.get("mqls", 0),
            accepted=lead_values.get("accepted", 0),
            decided=lead_values.get("decided", 0),
            decisions_met=clock_values.get("decisions_met", 0),
            decisions_measured=clock_values.get("decisions_measured", 0),
            touches_met=clock_values.get("touches_met", 0),
            touches_measured=clock_values.get("touches_measured", 0),
        )

    rows = [week_row(w, weeks.get(w, {}), by_week.get(w, {})) for w in scope.weeks()]
    total = ScorecardWeek(
        week=rows[0].week if rows else scope.start.date(),
        **{
            name: sum(getattr(r, name) for r in rows)
            for name in (
                "mqls",
                "accepted",
                "decided",
                "decisions_met",
                "decisions_measured",
                "touches_met",
                "touches_measured",
            )
        },
    )
    first_day = _as_date(scope.start)
    last_day = _as_date(scope.end - dt.timedelta(microseconds=1))
    month_rows = []
    month = first_day.replace(day=1)
    while month <= last_day:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        month_rows.append(
            ScorecardMonth(
                month=month,
                mqls=months.get(month, 0),
                partial=first_day > month or last_day < following - dt.timedelta(days=1),
            )
        )
        month = following
    targets = scope.targets
    return Scorecard(
        weeks=rows,
        months=month_rows,
        monthly_commitment=targets.monthly_mql_commitment,
        acceptance_target=targets.fraction("acceptance_target"),
        total=total,
    )


# --- 7. pipeline planner --------------------------------------------------------------------


@dataclass(frozen=True)
class PlanColumn:
    label: str
    mql_sql: float | None
    won_deals: float
    sqls: float | None
    mqls: float | None


@dataclass(frozen=True)
class Plan:
    revenue_target: float
    average_deal_size: float
    win_rate: float
    months: int
    measured_mqls: int
    measured_sql: int
    columns: list[PlanColumn]


def pipeline_plan(
    scope: ReportScope,
    *,
    revenue_target: float,
    average_deal_size: float,
    win_rate: float,
    months: int,
) -> Plan:
    """Per month: won deals = revenue / months / deal size; SQLs = won deals / win rate
    (the share of SQLs that become won deals); MQLs = SQLs / MQL -> SQL."""
    measured = _grouped(scope.cohort(), (), {"mqls": None, "sql": _reached(Stage.SQL)})[()]
    band = Band.of(scope.targets)
    won = revenue_target / months / average_deal_size
    sqls = won / win_rate
    rates = [
        ("Measured in the period", stats.rate(measured["sql"], measured["mqls"])),
        ("Industry average", band.industry_average),
        ("Top quartile (low)", band.target_low),
        ("Top quartile (high)", band.target_high),
    ]
    return Plan(
        revenue_target=revenue_target,
        average_deal_size=average_deal_size,
        win_rate=win_rate,
        months=months,
        measured_mqls=measured["mqls"],
        measured_sql=measured["sql"],
        columns=[
            PlanColumn(
                label=label,
                mql_sql=value,
                won_deals=won,
                sqls=sqls,
                mqls=sqls / value if value else None,
            )
            for label, value in rates
        ],
    )


# --- 8. checklist ---------------------------------------------------------------------------


VERDICTS = (
    ("rejected", "Rejected (before contact)"),
    ("not_now", "Nurtured or disqualified after contact"),
    ("sql", "Reached SQL"),
)


@dataclass(frozen=True)
class ChecklistCount:
    verdicts: int  # verdicts whose snapshot had the item
    unknown: int
    not_met: int

    @property
    def unknown_share(self) -> float | None:
        return stats.rate(self.unknown, self.verdicts)

    @property
    def not_met_share(self) -> float | None:
        return stats.rate(self.not_met, self.verdicts)


@dataclass(frozen=True)
class ChecklistRowReport:
    item: int
    question: str
    version: str
    must_have: bool
    by_verdict: dict[str, ChecklistCount]


@dataclass(frozen=True)
class ChecklistReport:
    items: list[ChecklistRowReport]
    verdicts: dict[str, int]  # verdict -> how many verdicts (stage changes)

    @property
    def empty(self) -> bool:
        return not self.items


def _verdict_changes(scope: ReportScope) -> QuerySet[StageChange]:
    return scope.of_cohort(StageChange.objects.all()).filter(
        Q(transition="reject")
        | Q(transition="qualify_sql")
        | Q(transition="nurture")
        | Q(transition="disqualify", from_stage__in=[Stage.ACCEPTED, Stage.SQL])
    )


def _verdict(transition: str) -> str:
    return {"reject": "rejected", "qualify_sql": "sql"}.get(transition, "not_now")


def checklist(scope: ReportScope) -> ChecklistReport:
    """Each verdict's checklist snapshot (the audit row's copy of the checklist at that
    moment; never-answered items are in it as unknown), per item: how often unknown or
    not met when the lead was rejected, let go after contact, or qualified to SQL."""
    verdicts: dict[str, int] = defaultdict(int)
    counts: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for item, transition, changes, n, unknown, not_met in _snapshot_counts(_verdict_changes(scope)):
        verdicts[_verdict(transition)] += changes
        if item is None:  # a change without a checklist, or an entry without an item
            continue
        bucket = counts[int(item)][_verdict(transition)]
        bucket[0] += n
        bucket[1] += unknown or 0
        bucket[2] += not_met or 0
    items = (
        ChecklistItem.objects.filter(pk__in=list(counts))
        .select_related("criteria_set")
        .order_by("criteria_set__product_line__name", "criteria_set__version", "order", "pk")
    )
    rows = [
        ChecklistRowReport(
            item=item.pk,
            question=item.question,
            version=f"{item.criteria_set.name} v{item.criteria_set.version}",
            must_have=item.must_have,
            by_verdict={
                verdict: ChecklistCount(*counts[item.pk].get(verdict, (0, 0, 0)))
                for verdict, _ in VERDICTS
            },
        )
        for item in items
    ]
    return ChecklistReport(items=rows, verdicts=dict(verdicts))


def _snapshot_counts(changes: QuerySet[StageChange]) -> list[tuple]:
    """(item, transition, changes, verdicts, unknown, not met) per item and transition,
    counted by the database from the snapshots' JSON in one pass over the changes: each
    change is counted once in `changes` (with its first entry, or alone with item None when
    its snapshot has none), each entry in the others. The ORM cannot unnest a JSON array,
    so this is the one raw query: the stage changes themselves are selected by the ORM
    (`changes`), and only the unnesting differs between PostgreSQL and SQLite."""
    # the changes' own query supplies transition and snapshot
    rows_sql, params = (
        changes.order_by()
        .annotate(verdict_transition=F("transition"), verdict_snapshot=F("checklist_snapshot"))
        .values("verdict_transition", "verdict_snapshot")
        .query.sql_with_params()
    )
    connection = connections[changes.db]
    if connection.vendor == "postgresql":
        sql = f"""
            SELECT (e.value->>'item')::bigint, sc.verdict_transition,
                   COUNT(*) FILTER (WHERE e.position IS NULL OR e.position = 1),
                   COUNT(e.position),
                   COUNT(*) FILTER (WHERE e.value->>'answer' = 'unknown'),
                   COUNT(*) FILTER (WHERE e.value->>'answer' = 'not_met')
            FROM ({rows_sql}) AS sc
            LEFT JOIN LATERAL jsonb_array_elements(
                CASE WHEN jsonb_typeof(sc.verdict_snapshot) = 'array'
                THEN sc.verdict_snapshot END
            ) WITH ORDINALITY AS e(value, position) ON true
            GROUP BY 1, 2
        """
    else:
        sql = f"""
            SELECT json_extract(e.value, '$.item'), sc.verdict_transition,
                   SUM(e.key IS NULL OR e.key = 0),
                   COUNT(e.key),
                   COALESCE(SUM(json_extract(e.value, '$.answer') = 'unknown'), 0),
                   COALESCE(SUM(json_extract(e.value, '$.answer') = 'not_met'), 0)
            FROM ({rows_sql}) AS sc
            LEFT JOIN json_each(
                CASE WHEN json_type(sc.verdict_snapshot) = 'array'
                THEN sc.verdict_snapshot END
            ) AS e ON 1
            GROUP BY 1, 2
        """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
