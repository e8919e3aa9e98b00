"""Each report as a page of sections: a chart, the table with the same numbers under it,
and notes. The HTML page and the CSV download are both rendered from these, so they can
never disagree. Numbers come from reporting.selectors; this module only arranges and
words them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.safestring import SafeString, mark_safe

from leads.links import url_with_ids
from qualification.models import Reason
from routing.models import ClockKind

from . import charts, selectors, stats
from .selectors import ReportScope

DASH = stats.DASH

# --- tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    label: str
    # text, count, percent, interval (a stats.Interval), estimate (an Estimate), share (a
    # Share), hours, days, number, money
    kind: str = "text"
    wide: bool = False  # prose that should not be squeezed into a narrow column

    @property
    def numeric(self) -> bool:
        return self.kind != "text"


@dataclass(frozen=True)
class Estimate:
    """A rate with its 95% interval, shown in one cell (three CSV columns)."""

    value: float | None
    interval: stats.Interval | None


@dataclass(frozen=True)
class Share:
    """part of whole, shown as a percentage with the counts under it (CSV: count, %)."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return stats.rate(self.part, self.whole)


@dataclass(frozen=True)
class Link:
    text: str
    url: str

    def __str__(self) -> str:
        return self.text


def _html(value: Any, kind: str) -> str:
    if kind in ("estimate", "share"):
        return _html(value.value, "percent") if value is not None else "no data"
    if value is None:
        return "no data"
    if kind == "count":
        return f"{value:,}"
    if kind == "percent":
        return f"{value * 100:.1f}%"
    if kind == "interval":
        return f"{value.low * 100:.1f}{DASH}{value.high * 100:.1f}%"
    if kind in ("hours", "days", "number"):
        return f"{value:,.1f}"
    if kind == "money":
        return f"{value:,.0f}"
    return str(value)


def _csv(value: Any, kind: str) -> list[str]:
    if kind == "share":
        return [str(value.part), *_csv(value.value, "percent")]
    if kind == "estimate":
        value = value or Estimate(None, None)
        return _csv(value.value, "percent") + _csv(value.interval, "interval")
    if kind == "interval":
        return ["", ""] if value is None else [f"{value.low * 100:.2f}", f"{value.high * 100:.2f}"]
    if value is None:
        return [""]
    if kind == "percent":
        return [f"{value * 100:.2f}"]
    if kind in ("hours", "days", "number", "money"):
        return [f"{value:.2f}"]
    return [str(value)]


def _sub(value: Any) -> str:
    if isinstance(value, Estimate) and value.interval:
        return _html(value.interval, "interval")
    if isinstance(value, Share):
        return f"{value.part} of {value.whole}"
    return ""


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[Any]]

    def html_rows(self) -> list[list[dict[str, Any]]]:
        return [
            [
                {
                    "text": _html(value, column.kind),
                    "sub": _sub(value),
                    "wide": column.wide,
                    "url": value.url if isinstance(value, Link) else "",
                    "numeric": column.numeric,
                    "missing": value is None
                    or (isinstance(value, Estimate | Share) and value.value is None),
                }
                for column, value in zip(self.columns, row, strict=True)
            ]
            for row in self.rows
        ]

    def csv_header(self) -> list[str]:
        header = []
        for column in self.columns:
            if column.kind == "interval":
                header += [f"{column.label} low (%)", f"{column.label} high (%)"]
            elif column.kind == "share":
                header += [f"{column.label} (count)", f"{column.label} (%)"]
            elif column.kind == "estimate":
                header += [
                    f"{column.label} (%)",
                    f"{column.label} 95% CI low (%)",
                    f"{column.label} 95% CI high (%)",
                ]
            elif column.kind == "percent" and "%" not in column.label:
                header.append(f"{column.label} (%)")
            else:
                header.append(column.label)
        return header

    def csv_rows(self) -> list[list[str]]:
        return [
            [
                cell
                for column, value in zip(self.columns, row, strict=True)
                for cell in _csv(value, column.kind)
            ]
            for row in self.rows
        ]


@dataclass
class Section:
    key: str
    title: str
    table: Table
    chart: SafeString | str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Page:
    title: str
    lede: str
    sections: list[Section]
    headlines: list[str] = field(default_factory=list)
    empty: bool = False
    empty_text: str = "no data: no lead first became an MQL in this period with these filters."
    form: forms.Form | None = None


def _chart(svg: str) -> SafeString:
    # charts.py escapes every label it draws
    return mark_safe(svg)


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.1f}%"


def _week_label(week: dt.date) -> str:
    return f"{week:%d %b}"


CATEGORY_LABELS = dict(Reason.Category.choices)


# --- 1. funnel -------------------------------------------------------------------------------


def funnel_page(scope: ReportScope, params=None) -> Page:
    report = selectors.funnel(scope)
    band = report.band
    o = report.overall
    page = Page(
        title="Funnel",
        lede="Leads by the stages they reached, cohort style: every lead that first became an "
        "MQL in the period, followed to today.",
        sections=[],
        empty=report.empty,
    )
    if report.empty:
        return page
    page.headlines.append(
        f"MQL → SQL: {_pct(o.mql_sql_rate)} ({o.sql} SQL of {o.mqls} MQLs; target band "
        f"{band.target_low:.0%}{DASH}{band.target_high:.0%}, industry average "
        f"{band.industry_average:.0%}): {band.advice(o.mql_sql_rate)}."
    )
    low = [
        c
        for c in report.channels
        if c.mql_sql_rate is not None and c.mql_sql_rate < band.tighten_below
    ]
    if low:
        listed = ", ".join(f"{c.label} ({_pct(c.mql_sql_rate)})" for c in low)
        page.headlines.append(f"Below {band.tighten_below:.0%} MQL → SQL: {listed}.")
    if o.still_open:
        page.headlines.append(
            f"{o.still_open} of the {o.mqls} MQLs are still being worked (MQL or accepted): "
            "the rates of recent cohorts can still rise."
        )

    stages = []
    if o.engaged is not None:
        stages.append(("Engaged", o.engaged, None, None))
    stages += [
        ("MQL", o.mqls, o.engaged_mql_rate, 1.0),
        ("Accepted", o.accepted, o.accept_rate, o.accept_rate),
        ("SQL", o.sql, o.accepted_sql_rate, o.mql_sql_rate),
        (
            "Opportunity",
            o.opportunities,
            o.sql_opportunity_rate,
            stats.rate(o.opportunities, o.mqls),
        ),
        ("Rejected", o.rejected, None, o.reject_rate),
    ]
    notes = []
    if o.engaged is None:
        notes.append(
            "Engaged → MQL is shown to marketing ops without a team or rep filter: leads have "
            "no owner before they are MQLs."
        )
    else:
        notes.append(
            f"Engaged: leads that entered the funnel in the period ({o.engaged}); "
            f"{o.engaged_to_mql} of them have become MQLs so far. Every later step follows the "
            "MQL cohort."
        )
    page.sections.append(
        Section(
            key="stages",
            title="Stages reached",
            chart=_chart(
                charts.bar_chart(
                    "Leads by stage reached",
                    [
                        charts.Bar(
                            label,
                            count,
                            hover=f"{label}: {count} leads"
                            + (f", {_pct(step)} of the previous stage" if step is not None else ""),
                        )
                        for label, count, step, _ in stages
                    ],
                    x_label="Leads",
                    y_label="Stage",
                )
            ),
            table=Table(
                [
                    Column("Stage"),
                    Column("Leads", "count"),
                    Column("From the previous stage", "percent"),
                    Column("Of MQLs", "percent"),
                ],
                [list(s) for s in stages],
            ),
            notes=notes,
        )
    )

    rows = [*report.channels, o]
    band_range = (band.target_low, band.target_high, "Target band")
    references = [
        charts.Reference(band.industry_average, "Industry average"),
        charts.Reference(band.tighten_below, "Tighten below"),
        charts.Reference(band.too_high_above, "Bar too high above"),
    ]
    engaged_cols = o.engaged is not None
    columns = [Column("Channel")]
    if engaged_cols:
        columns += [Column("Engaged", "count"), Column("Engaged → MQL", "percent")]
    columns += [
        Column("MQLs", "count"),
        Column("Accepted", "count"),
        Column("Accept rate", "percent"),
        Column("Rejected", "count"),
        Column("Reject rate", "percent"),
        Column("SQL", "count"),
        Column("Accepted → SQL", "percent"),
        Column("MQL → SQL", "percent"),
        Column("Opportunities", "count"),
        Column("SQL → opportunity", "percent"),
        Column("Against the band", wide=True),
    ]
    table_rows = []
    for r in rows:
        row: list[Any] = [r.label]
        if engaged_cols:
            row += [r.engaged, r.engaged_mql_rate]
        row += [
            r.mqls,
            r.accepted,
            r.accept_rate,
            r.rejected,
            r.reject_rate,
            r.sql,
            r.accepted_sql_rate,
            r.mql_sql_rate,
            r.opportunities,
            r.sql_opportunity_rate,
            band.advice(r.mql_sql_rate),
        ]
        table_rows.append(row)
    page.sections.append(
        Section(
            key="channels",
            title="MQL → SQL by source channel, against the target band",
            chart=_chart(
                charts.bar_chart(
                    "MQL → SQL by source channel",
                    [
                        charts.Bar(
                            r.label,
                            r.mql_sql_rate,
                            hover=f"{r.label}: {_pct(r.mql_sql_rate)} "
                            f"({r.sql} SQL of {r.mqls} MQLs)",
                            flagged=r.mql_sql_rate is not None
                            and r.mql_sql_rate < band.tighten_below,
                        )
                        for r in rows
                    ],
                    x_label="MQL → SQL",
                    y_label="Source channel",
                    fmt=charts.percent,
                    band=band_range,
                    references=references,
                )
            ),
            table=Table(columns, table_rows),
            notes=[
                f"Target band {band.target_low:.0%}{DASH}{band.target_high:.0%} (top quartile); "
                f"industry average {band.industry_average:.0%}; below {band.tighten_below:.0%} "
                f"tighten the MQL definition; above {band.too_high_above:.0%} the bar may be "
                "too high. Marketing ops set these in the admin (Report targets)."
            ],
        )
    )

    page.sections.append(
        Section(
            key="velocity",
            title="Velocity: days between stages",
            chart=_chart(
                charts.bar_chart(
                    "Median days between stages",
                    [
                        charts.Bar(
                            v.label,
                            v.median_days,
                            hover=f"{v.label}: median {_decimal(v.median_days)} days, 90th "
                            f"percentile {_decimal(v.p90_days)} days ({v.leads} leads)",
                        )
                        for v in report.velocity
                    ],
                    x_label="Median days (calendar)",
                    y_label="Step",
                )
            ),
            table=Table(
                [
                    Column("Step"),
                    Column("Median days", "days"),
                    Column("90th percentile days", "days"),
                    Column("Leads measured", "count"),
                ]
                + [Column(c.label, "days") for c in report.channels],
                [
                    [v.label, v.median_days, v.p90_days, v.leads]
                    + [v.by_channel.get(c.key) for c in report.channels]
                    for v in report.velocity
                ],
            ),
            notes=[
                "From the first time a lead reached a stage to the first time it reached the "
                "next; the channel columns are medians."
            ],
        )
    )

    page.sections.append(
        Section(
            key="flows",
            title="After the MQL: rejections, recycling and the way back",
            chart=_chart(
                charts.bar_chart(
                    "Stage changes after the MQL",
                    [
                        charts.Bar(
                            f"{f.label} ({f.transition.replace('_', ' ')})",
                            f.changes,
                            hover=f"{f.label}: {f.changes} changes on {f.leads} leads",
                        )
                        for f in report.flows
                    ],
                    x_label="Stage changes",
                    y_label="Flow",
                )
            ),
            table=Table(
                [
                    Column("From → to"),
                    Column("Transition"),
                    Column("Changes", "count"),
                    Column("Leads", "count"),
                ],
                [[f.label, f.transition, f.changes, f.leads] for f in report.flows],
            ),
            notes=[
                "A lead can pass a flow more than once (rejected, recycled, MQL again): changes "
                "count each time, leads once."
            ],
        )
    )
    return page


def _decimal(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f}"


# --- 2. SLA compliance --------------------------------------------------------------------------


def _kind_short(kind: str) -> str:
    return {
        ClockKind.DECISION: "Decision",
        ClockKind.FIRST_TOUCH: "First touch",
        ClockKind.QUALIFICATION: "Qualification",
        ClockKind.DISPOSITION: "Disposition",
    }[kind]


SLA_COLUMNS = [
    Column("Clocks", "count"),
    Column("Met", "count"),
    Column("Breached", "count"),
    Column("Share met", "percent"),
    Column("Median (business hours)", "hours"),
    Column("90th percentile (business hours)", "hours"),
]


def _sla_values(r: selectors.SlaRow) -> list[Any]:
    return [r.clocks, r.met, r.breached, r.met_share, r.median_hours, r.p90_hours]


def _sla_heat(title: str, rows: Sequence[selectors.SlaRow], y_label: str) -> str:
    labels = list(dict.fromkeys(r.label for r in rows))
    kinds = [k for k in ClockKind.values if any(r.kind == k for r in rows)]
    found = {(r.label, r.kind): r for r in rows}
    cells = []
    for label in labels:
        line = []
        for kind in kinds:
            r = found.get((label, kind))
            share = r.met_share if r else None
            line.append(
                charts.Cell(
                    share,
                    _pct(share) if share is not None else "—",
                    f"{label} · {_kind_short(kind)}: "
                    + (
                        f"{_pct(share)} met ({r.met} of {r.met + r.breached})"
                        if r and share is not None
                        else "no data"
                    ),
                )
            )
        cells.append(line)
    return charts.heat_map(
        title, labels, [_kind_short(k) for k in kinds], cells, x_label="Clock", y_label=y_label
    )


def sla_page(scope: ReportScope, params=None) -> Page:
    report = selectors.sla_compliance(scope)
    page = Page(
        title="SLA compliance",
        lede="Clocks of the period's MQL cohort: share met = met / (met + breached); a clock "
        "still running past due counts as breached, one handed over before due as neither. "
        "Times are business time to act (clocks stopped by the action).",
        sections=[],
        empty=report.empty,
        empty_text="no data: no SLA clock ran on the leads of this period and these filters.",
    )
    if report.empty:
        return page
    for r in report.by_kind:
        page.headlines.append(
            f"{_kind_short(r.kind)}: {_pct(r.met_share)} within SLA "
            f"(median {_decimal(r.median_hours)} business hours, "
            f"90th percentile {_decimal(r.p90_hours)})."
        )
    page.sections.append(
        Section(
            key="kinds",
            title="By clock",
            chart=_chart(
                charts.bar_chart(
                    "Share of clocks met, by clock",
                    [
                        charts.Bar(
                            _kind_short(r.kind),
                            r.met_share,
                            hover=f"{r.label}: {_pct(r.met_share)} met "
                            f"({r.met} of {r.met + r.breached})",
                        )
                        for r in report.by_kind
                    ],
                    x_label="Share met",
                    y_label="Clock",
                    fmt=charts.percent,
                    top=1.0,
                )
            ),
            table=Table(
                [Column("Clock"), *SLA_COLUMNS],
                [[r.label, *_sla_values(r)] for r in report.by_kind],
            ),
        )
    )
    page.sections.append(
        Section(
            key="reps",
            title="By rep",
            chart=_chart(_sla_heat("Share met by rep and clock", report.by_rep, "Rep")),
            table=Table(
                [Column("Rep"), Column("Clock"), *SLA_COLUMNS],
                [[r.label, _kind_short(r.kind), *_sla_values(r)] for r in report.by_rep],
            ),
        )
    )
    page.sections.append(
        Section(
            key="teams",
            title="By team",
            chart=_chart(_sla_heat("Share met by team and clock", report.by_team, "Team")),
            table=Table(
                [Column("Team"), Column("Clock"), *SLA_COLUMNS],
                [[r.label, _kind_short(r.kind), *_sla_values(r)] for r in report.by_team],
            ),
            notes=["A lead's team is the team it was last routed to, else its owner's first team."],
        )
    )
    weeks = sorted(set(scope.weeks()) | {w.week for w in report.breaches_by_week})
    by_week = {w.week: w for w in report.breaches_by_week}
    kinds = ClockKind.values
    page.sections.append(
        Section(
            key="breaches",
            title="Breaches by week",
            chart=_chart(
                charts.line_chart(
                    "SLA breaches per week, by clock",
                    [_week_label(w) for w in weeks],
                    [
                        charts.Series(
                            _kind_short(k),
                            [by_week[w].by_kind.get(k, 0) if w in by_week else 0 for w in weeks],
                        )
                        for k in kinds
                    ],
                    x_label="Week (Monday) the clock fell due",
                    y_label="Breaches",
                )
            ),
            table=Table(
                [Column("Week (Monday)")]
                + [Column(_kind_short(k), "count") for k in kinds]
                + [Column("Total", "count")],
                [
                    [w.isoformat()]
                    + [by_week[w].by_kind.get(k, 0) if w in by_week else 0 for k in kinds]
                    + [by_week[w].total if w in by_week else 0]
                    for w in weeks
                ],
            ),
        )
    )
    page.sections.append(
        Section(
            key="first-touch",
            title="Time to first touch by source channel",
            chart=_chart(
                charts.bar_chart(
                    "Median business hours from acceptance to first touch",
                    [
                        charts.Bar(
                            r.label,
                            r.median_hours,
                            hover=f"{r.label}: median {_decimal(r.median_hours)} h, "
                            f"90th percentile {_decimal(r.p90_hours)} h, "
                            f"{_pct(r.met_share)} within SLA",
                        )
                        for r in report.first_touch_by_source
                    ],
                    x_label="Median business hours",
                    y_label="Source channel",
                )
            ),
            table=Table(
                [Column("Source channel"), *SLA_COLUMNS],
                [[r.label, *_sla_values(r)] for r in report.first_touch_by_source],
            ),
            notes=["The first-touch clock starts when the rep accepts the MQL."],
        )
    )
    return page


# --- 3. rep calibration -------------------------------------------------------------------------


CALIBRATION_COLUMNS = [
    Column("Rep"),
    Column("MQLs received", "count"),
    Column("Decided", "count"),
    Column("Accept rate", "estimate"),
    Column("Team accept rate", "estimate"),
    Column("Reject rate", "estimate"),
    Column("Team reject rate", "estimate"),
    Column("Accepted → SQL", "estimate"),
    Column("Team accepted → SQL", "estimate"),
    Column("Median decision (business hours)", "hours"),
    Column("Top rejection reasons", wide=True),
    Column("Flag", wide=True),
]


def calibration_page(scope: ReportScope, params=None) -> Page:
    report = selectors.rep_calibration(scope)
    page = Page(
        title="Rep calibration",
        lede="Do reps apply the same rules? Each rep's decisions on the period's MQLs beside "
        "their team's, with 95% Wilson intervals. A rep with at least "
        f"{report.min_sample} decisions whose rate lies outside the team's interval is flagged.",
        sections=[],
        empty=report.empty,
        empty_text="no data: nobody decided an MQL of this period with these filters.",
    )
    if report.empty:
        return page
    flagged = [r for r in report.reps if r.flags]
    for r in flagged:
        page.headlines.append(f"{r.label} ({r.team_label}): {'; '.join(r.flags)}.")
    if not flagged:
        page.headlines.append(
            f"No rep is outside their team's interval (minimum sample: {report.min_sample} "
            "decisions)."
        )
    teams: dict[Any, list[selectors.RepCalibration]] = {}
    for r in report.reps:
        teams.setdefault(r.team, []).append(r)
    for team, reps in teams.items():
        first = reps[0]
        team_reject = first.reject
        interval = team_reject.team_interval
        rows = [
            [
                r.label,
                r.received,
                r.decided,
                Estimate(r.accept.value, r.accept.interval),
                Estimate(r.accept.team_value, r.accept.team_interval),
                Estimate(r.reject.value, r.reject.interval),
                Estimate(r.reject.team_value, r.reject.team_interval),
                Estimate(r.sql_of_accepted.value, r.sql_of_accepted.interval),
                Estimate(r.sql_of_accepted.team_value, r.sql_of_accepted.team_interval),
                r.median_decision_hours,
                ", ".join(f"{label} ({n})" for label, n in r.top_reasons),
                "; ".join(r.flags),
            ]
            for r in reps
        ]
        page.sections.append(
            Section(
                key=f"team-{team or 'none'}",
                title=f"{first.team_label}: reject rate by rep",
                chart=_chart(
                    charts.bar_chart(
                        f"{first.team_label}: reject rate by rep, with 95% intervals",
                        [
                            charts.Bar(
                                r.label,
                                r.reject.value,
                                hover=f"{r.label}: rejects {_pct(r.reject.value)} of {r.decided} "
                                f"({_interval(r.reject.interval)}); "
                                f"team {_pct(r.reject.team_value)} "
                                f"({_interval(r.reject.team_interval)})",
                                interval=(r.reject.interval.low, r.reject.interval.high)
                                if r.reject.interval
                                else None,
                                flagged=bool(r.flags),
                            )
                            for r in reps
                        ],
                        x_label="Reject rate (rep's 95% interval as whiskers)",
                        y_label="Rep",
                        fmt=charts.percent,
                        band=(interval.low, interval.high, "Team 95% interval")
                        if interval
                        else None,
                        references=[charts.Reference(team_reject.team_value, "Team")]
                        if team_reject.team_value is not None
                        else [],
                    )
                ),
                table=Table(CALIBRATION_COLUMNS, rows),
            )
        )
    notes = [
        "Decisions are the accepts and rejects of the period's MQLs, by the person who made "
        "them; a lead's team is the team it was last routed to. The team's figures include "
        "every member. Accepted → SQL: accepted MQLs that later reached SQL. MQLs received: "
        "decided plus still waiting in the rep's queue. Decision time: business hours on the "
        "decision clock."
    ]
    if report.system_rejections:
        notes.append(
            f"{report.system_rejections} rejection(s) by handoff itself (no response within SLA) "
            "are not held against a rep: see the SLA report."
        )
    page.sections[-1].notes += notes
    return page


def _interval(interval: stats.Interval | None) -> str:
    if interval is None:
        return "no data"
    return f"{interval.low * 100:.1f}{DASH}{interval.high * 100:.1f}%"


# --- 4. rejection reasons ----------------------------------------------------------------------


def _matrix(
    title: str,
    reasons: Sequence[selectors.ReasonRow],
    columns: Sequence[tuple[Any, str]],
    counts: dict[tuple[Any, Any], int],
    x_label: str,
) -> tuple[str, Table]:
    totals = {key: sum(n for (_, c), n in counts.items() if c == key) for key, _ in columns}
    cells = []
    for reason in reasons:
        line = []
        for key, label in columns:
            n = counts.get((reason.reason, key), 0)
            share = stats.rate(n, totals[key])
            line.append(
                charts.Cell(
                    share if n else 0.0,
                    str(n),
                    f"{reason.label} · {label}: {n} of {totals[key]} rejections ({_pct(share)})",
                )
            )
        cells.append(line)
    svg = charts.heat_map(
        title,
        [r.label for r in reasons],
        [label for _, label in columns],
        cells,
        x_label=f"{x_label} (shade: share of the column's rejections)",
        y_label="Reason",
    )
    table = Table(
        [Column("Reason")] + [Column(label, "count") for _, label in columns],
        [[r.label] + [counts.get((r.reason, key), 0) for key, _ in columns] for r in reasons]
        + [["Total"] + [totals[key] for key, _ in columns]],
    )
    return svg, table


def rejections_page(scope: ReportScope, params=None) -> Page:
    report = selectors.rejection_reasons(scope)
    page = Page(
        title="Rejection reasons",
        lede="Why sales rejected the period's MQLs, by reason and category, by channel and by rep.",
        sections=[],
        empty=report.empty,
        empty_text="no data: no MQL of this period with these filters was rejected.",
    )
    if report.empty:
        return page
    page.headlines.append(
        f"{report.total} rejections; {_pct(report.other_share)} with a reason in the category "
        "Other."
    )
    page.headlines.append(
        f"{report.without_expected_note} rejection(s) without the note their reason expects "
        "(a reason in the category Other, or one that requires a note)."
    )
    total = report.total
    page.sections.append(
        Section(
            key="reasons",
            title="By reason",
            chart=_chart(
                charts.bar_chart(
                    "Rejections by reason",
                    [
                        charts.Bar(
                            r.label,
                            r.rejections,
                            hover=f"{r.label}: {r.rejections} "
                            f"({_pct(stats.rate(r.rejections, total))})",
                        )
                        for r in report.reasons
                    ],
                    x_label="Rejections",
                    y_label="Reason",
                )
            ),
            table=Table(
                [
                    Column("Reason"),
                    Column("Category"),
                    Column("Rejections", "count"),
                    Column("Share", "percent"),
                    Column("Note expected"),
                    Column("Without a note", "count"),
                ],
                [
                    [
                        r.label,
                        CATEGORY_LABELS.get(r.category, r.category),
                        r.rejections,
                        stats.rate(r.rejections, total),
                        "yes" if r.expects_note else "no",
                        r.without_note,
                    ]
                    for r in report.reasons
                ],
            ),
        )
    )
    page.sections.append(
        Section(
            key="categories",
            title="By category",
            chart=_chart(
                charts.bar_chart(
                    "Rejections by reason category",
                    [
                        charts.Bar(label, n, hover=f"{label}: {n} ({_pct(stats.rate(n, total))})")
                        for label, n in report.by_category
                    ],
                    x_label="Rejections",
                    y_label="Category",
                )
            ),
            table=Table(
                [Column("Category"), Column("Rejections", "count"), Column("Share", "percent")],
                [[label, n, stats.rate(n, total)] for label, n in report.by_category],
            ),
        )
    )
    svg, table = _matrix(
        "Rejections by reason and channel",
        report.reasons,
        report.channels,
        report.by_channel,
        "Source channel",
    )
    page.sections.append(
        Section(key="by-channel", title="By channel", chart=_chart(svg), table=table)
    )
    svg, table = _matrix(
        "Rejections by reason and rep", report.reasons, report.reps, report.by_rep, "Rep"
    )
    page.sections.append(Section(key="by-rep", title="By rep", chart=_chart(svg), table=table))
    page.sections.append(
        Section(
            key="missing-notes",
            title="Rejections without the note their reason expects",
            table=Table(
                [Column("Rejected at"), Column("Lead"), Column("Rep"), Column("Reason")],
                [
                    [
                        f"{c.at:%Y-%m-%d %H:%M}",
                        Link(c.lead.name, url_with_ids("lead-detail", c.lead_id)),
                        (c.actor.get_full_name() or c.actor.username)
                        if c.actor
                        else "handoff (system)",
                        c.reason.label if c.reason else "",
                    ]
                    for c in report.missing_notes
                ],
            ),
            notes=[f"The latest {selectors.MISSING_NOTES_SHOWN} at most."]
            if report.without_expected_note > len(report.missing_notes)
            else [],
        )
    )
    return page


# --- 5. score calibration ----------------------------------------------------------------------


def score_page(scope: ReportScope, params=None) -> Page:
    report = selectors.score_calibration(scope)
    band = report.band
    page = Page(
        title="Score calibration",
        lede="Is the score telling the truth? MQLs binned by their fit and engagement score at "
        "the moment they became MQLs (deciles; tied scores share a bin), with the share "
        "sales accepted and the share that reached SQL.",
        sections=[],
        empty=report.empty,
    )
    if report.empty:
        return page
    for d in report.dimensions:
        rising = {True: "rises", False: "does not rise", None: "cannot be judged (too few bins)"}
        page.headlines.append(f"{d.label}: the SQL rate {rising[d.sql_rises]} with the score.")
        page.headlines.append(_suggestion(d, band, report.min_mqls))
    if report.versions > 1:
        page.headlines.append(
            f"{report.versions} criteria versions are binned together: pick a criteria version "
            "in the filters for a threshold you can set."
        )
    for d in report.dimensions:
        bins = d.bins
        page.sections.append(
            Section(
                key=f"{d.name}-deciles",
                title=f"{d.label}: deciles",
                chart=_chart(
                    charts.line_chart(
                        f"Acceptance and SQL rate by {d.label.lower()} decile",
                        [b.label for b in bins],
                        [
                            charts.Series("Accepted", [b.accept_rate for b in bins]),
                            charts.Series("Reached SQL", [b.sql_rate for b in bins]),
                        ],
                        x_label=f"{d.label} at MQL (decile's range)",
                        y_label="Share of MQLs",
                        fmt=charts.percent,
                        references=[
                            charts.Reference(band.target_low, "Target band low"),
                            charts.Reference(band.target_high, "Target band high"),
                        ],
                        top=1.0,
                    )
                ),
                table=Table(
                    [
                        Column("Decile", "count"),
                        Column("Scores"),
                        Column("MQLs", "count"),
                        Column("Accepted", "count"),
                        Column("Acceptance", "percent"),
                        Column("Reached SQL", "count"),
                        Column("SQL rate", "percent"),
                    ],
                    [
                        [b.decile, b.label, b.mqls, b.accepted, b.accept_rate, b.sql, b.sql_rate]
                        for b in bins
                    ],
                ),
                notes=[
                    "Current thresholds: "
                    + ", ".join(f"{label}: {value}" for label, value in d.current)
                ]
                if d.current
                else [],
            )
        )
        options = stats.thresholds(d.rows)
        page.sections.append(
            Section(
                key=f"{d.name}-thresholds",
                title=f"{d.label}: what each threshold would have given",
                chart=_chart(
                    charts.line_chart(
                        f"MQL → SQL had only MQLs at or above each {d.label.lower()} been passed",
                        [str(t.score) for t in options],
                        [charts.Series("MQL → SQL", [t.sql_rate for t in options])],
                        x_label=f"{d.label} threshold (at least)",
                        y_label="MQL → SQL",
                        fmt=charts.percent,
                        references=[
                            charts.Reference(band.target_low, "Target band low"),
                            charts.Reference(band.target_high, "Target band high"),
                        ],
                    )
                ),
                table=Table(
                    [
                        Column("Threshold (at least)", "count"),
                        Column("MQLs kept", "count"),
                        Column("SQL kept", "count"),
                        Column("MQL → SQL", "percent"),
                        Column("In the target band"),
                    ],
                    [
                        [
                            t.score,
                            t.mqls,
                            t.sql,
                            t.sql_rate,
                            _in_band(t, band, report.min_mqls),
                        ]
                        for t in options
                    ],
                ),
            )
        )
    return page


def _in_band(t: stats.Threshold, band: selectors.Band, min_mqls: int) -> str:
    if t.sql_rate is None or not band.target_low <= t.sql_rate <= band.target_high:
        return "no"
    return "yes" if t.mqls >= min_mqls else f"yes, but fewer than {min_mqls} MQLs"


def _suggestion(d: selectors.ScoreDimension, band: selectors.Band, min_mqls: int) -> str:
    target = f"{band.target_low:.0%}{DASH}{band.target_high:.0%}"
    s = d.suggestion
    if s is not None:
        return (
            f"A {d.name} threshold of {s.score} would have put MQL → SQL at {_pct(s.sql_rate)} "
            f"(target {target}), keeping {s.mqls} of {s.total_mqls} MQLs and {s.sql} of "
            f"{s.total_sql} SQLs."
        )
    options = stats.thresholds(d.rows)
    if options and options[0].sql_rate is not None and options[0].sql_rate > band.target_high:
        return (
            f"MQL → SQL is above the target band ({target}) at every {d.name} threshold: the "
            "threshold is not too low (leads below it never reached sales, so a lower one "
            "cannot be measured here)."
        )
    return f"No {d.name} threshold keeping at least {min_mqls} MQLs puts MQL → SQL inside {target}."


# --- 6. service-level scorecard ----------------------------------------------------------------


def scorecard_page(scope: ReportScope, params=None) -> Page:
    card = selectors.scorecard(scope)
    total = card.total
    page = Page(
        title="Service-level scorecard",
        lede="Both sides of the agreement, week by week. Each row is one week's MQL cohort: "
        "what marketing delivered, and how sales treated those MQLs.",
        sections=[],
        empty=card.empty,
    )
    if card.empty:
        return page
    commitment = card.monthly_commitment
    if commitment is None:
        page.headlines.append(
            f"Marketing delivered {total.mqls} MQLs. No monthly commitment is set: marketing "
            "ops set it in the admin (Report targets)."
        )
    else:
        full = [m for m in card.months if not m.partial]
        met = sum(1 for m in full if m.mqls >= commitment)
        page.headlines.append(
            f"Marketing delivered {total.mqls} MQLs; the commitment is {commitment} a month "
            f"(met in {met} of {len(full)} full months)."
        )
    page.headlines.append(
        f"Acceptance: {_pct(total.acceptance)} of decided MQLs, target "
        f"{card.acceptance_target:.0%}."
    )
    page.headlines.append(
        f"Sales: {_pct(total.decisions_in_sla)} of decisions and {_pct(total.touches_in_sla)} of "
        "first touches within SLA."
    )
    weeks = card.weeks
    labels = [_week_label(w.week) for w in weeks]
    weekly = card.weekly_commitment
    weekly_charts = [
        charts.line_chart(
            "Marketing: MQLs delivered per week",
            labels,
            [charts.Series("MQLs", [w.mqls for w in weeks])],
            x_label="Week (Monday)",
            y_label="MQLs",
            references=[charts.Reference(weekly, "Commitment per week")] if weekly else [],
        ),
        charts.line_chart(
            "Marketing: share of decided MQLs sales accepted, per week",
            labels,
            [charts.Series("Accepted", [w.acceptance for w in weeks])],
            x_label="Week (Monday) of the MQL",
            y_label="Accepted",
            fmt=charts.percent,
            references=[charts.Reference(card.acceptance_target, "Target")],
            top=1.0,
        ),
        charts.line_chart(
            "Sales: decisions and first touches within SLA, per week",
            labels,
            [
                charts.Series("Decisions", [w.decisions_in_sla for w in weeks]),
                charts.Series("First touches", [w.touches_in_sla for w in weeks]),
            ],
            x_label="Week (Monday) of the MQL",
            y_label="Within SLA",
            fmt=charts.percent,
            top=1.0,
        ),
    ]
    page.sections.append(
        Section(
            key="weeks",
            title="Week by week",
            chart=_chart("".join(weekly_charts)),
            table=Table(
                [
                    Column("Week (Monday)"),
                    Column("MQLs", "count"),
                    Column("Commitment per week", "number"),
                    Column("Decided", "count"),
                    Column("Accepted", "count"),
                    Column("Acceptance", "percent"),
                    Column("Acceptance target", "percent"),
                    Column("Decision clocks", "count"),
                    Column("Decisions within SLA", "count"),
                    Column("Decisions within SLA (share)", "percent"),
                    Column("First-touch clocks", "count"),
                    Column("First touches within SLA", "count"),
                    Column("First touches within SLA (share)", "percent"),
                ],
                [
                    [
                        label,
                        w.mqls,
                        weekly,
                        w.decided,
                        w.accepted,
                        w.acceptance,
                        card.acceptance_target,
                        w.decisions_measured,
                        w.decisions_met,
                        w.decisions_in_sla,
                        w.touches_measured,
                        w.touches_met,
                        w.touches_in_sla,
                    ]
                    for label, w in [(w.week.isoformat(), w) for w in weeks] + [("Period", total)]
                ],
            ),
            notes=[
                "Decided: MQLs sales accepted or rejected (ever: a rejected, disputed and then "
                "accepted MQL counts as accepted). Clocks: a clock still running past due counts "
                "as breached; one handed over before due is not counted."
            ]
            + (["Commitment per week: the monthly commitment * 12 / 52."] if weekly else []),
        )
    )
    page.sections.append(
        Section(
            key="months",
            title="Marketing: MQLs per month against the commitment",
            chart=_chart(
                charts.bar_chart(
                    "MQLs per month",
                    [
                        charts.Bar(
                            f"{m.month:%b %Y}" + (" (part)" if m.partial else ""),
                            m.mqls,
                            flagged=commitment is not None
                            and not m.partial
                            and m.mqls < commitment,
                        )
                        for m in card.months
                    ],
                    x_label="MQLs",
                    y_label="Month",
                    references=[charts.Reference(commitment, "Commitment")] if commitment else [],
                )
            ),
            table=Table(
                [
                    Column("Month"),
                    Column("MQLs", "count"),
                    Column("Commitment", "count"),
                    Column("Of the commitment", "percent"),
                    Column("Whole month in the period"),
                ],
                [
                    [
                        f"{m.month:%Y-%m}",
                        m.mqls,
                        commitment,
                        stats.rate(m.mqls, commitment),
                        "no" if m.partial else "yes",
                    ]
                    for m in card.months
                ],
            ),
            notes=["Months below the commitment are red; a part month is never judged."],
        )
    )
    return page


# --- 7. pipeline planner -----------------------------------------------------------------------


class PlannerForm(forms.Form):
    revenue_target = forms.DecimalField(
        min_value=1, max_digits=14, decimal_places=2, label="Revenue target"
    )
    months = forms.IntegerField(min_value=1, max_value=36, initial=12, label="Over how many months")
    average_deal_size = forms.DecimalField(
        min_value=1, max_digits=12, decimal_places=2, label="Average deal size"
    )
    win_rate = forms.DecimalField(
        min_value=0.1,
        max_value=100,
        max_digits=5,
        decimal_places=1,
        label="Win rate (%)",
        help_text="The share of SQLs that become won deals.",
    )


def planner_page(scope: ReportScope, params=None) -> Page:
    bound = params is not None and any(params.get(f) for f in PlannerForm.base_fields)
    form = PlannerForm(params if bound else None, initial={"months": 12})
    page = Page(
        title="Pipeline planner",
        lede="From a revenue target, an average deal size and a win rate: the SQLs and MQLs "
        "needed per month, with the MQL → SQL measured in the period (MQL cohort) and with "
        "the industry figures.",
        sections=[],
        form=form,
    )
    if not form.is_valid():
        return page
    data = form.cleaned_data
    plan = selectors.pipeline_plan(
        scope,
        revenue_target=float(data["revenue_target"]),
        average_deal_size=float(data["average_deal_size"]),
        win_rate=float(data["win_rate"]) / 100,
        months=data["months"],
    )
    measured = plan.columns[0]
    page.headlines.append(
        f"{plan.revenue_target:,.0f} over {plan.months} months at {plan.average_deal_size:,.0f} "
        f"a deal and a {plan.win_rate:.0%} win rate: {measured.won_deals:.1f} won deals and "
        f"{measured.sqls:.1f} SQLs a month."
    )
    if measured.mqls is None:
        page.headlines.append("No MQL → SQL was measured in the period: see the industry figures.")
    else:
        page.headlines.append(
            f"At the measured MQL → SQL ({_pct(measured.mql_sql)}, {plan.measured_sql} SQL of "
            f"{plan.measured_mqls} MQLs) that takes {measured.mqls:.1f} MQLs a month."
        )
    months_in_period = (scope.end - scope.start).days / (365.25 / 12)
    page.headlines.append(
        f"In the period marketing delivered {plan.measured_mqls / months_in_period:.1f} MQLs "
        "a month."
    )
    page.sections.append(
        Section(
            key="plan",
            title="Needed per month",
            chart=_chart(
                charts.bar_chart(
                    "MQLs needed per month, by MQL → SQL rate",
                    [
                        charts.Bar(
                            f"{c.label} ({_pct(c.mql_sql)})",
                            c.mqls,
                            hover=f"{c.label}: {_decimal(c.mqls)} MQLs and "
                            f"{c.sqls:.1f} SQLs a month",
                        )
                        for c in plan.columns
                    ],
                    x_label="MQLs per month",
                    y_label="MQL → SQL rate",
                )
            ),
            table=Table(
                [
                    Column("MQL → SQL rate used"),
                    Column("MQL → SQL", "percent"),
                    Column("Won deals per month", "number"),
                    Column("SQLs per month", "number"),
                    Column("MQLs per month", "number"),
                ],
                [[c.label, c.mql_sql, c.won_deals, c.sqls, c.mqls] for c in plan.columns],
            ),
            notes=[
                "Won deals = revenue target / months / deal size; SQLs = won deals / win rate; "
                "MQLs = SQLs / MQL → SQL. Round up when you plan."
            ],
        )
    )
    return page


# --- 8. checklist ----------------------------------------------------------------------------


def checklist_page(scope: ReportScope, params=None) -> Page:
    report = selectors.checklist(scope)
    page = Page(
        title="Checklist",
        lede="For each checklist item: how often it was unknown or not met when a lead of the "
        "period was rejected, let go after contact (nurtured or disqualified), or qualified "
        "to SQL. Read from the checklist snapshot each verdict recorded; items never answered "
        "count as unknown.",
        sections=[],
        empty=report.empty,
        empty_text="no data: no MQL of this period with these filters has a verdict with a "
        "checklist yet.",
    )
    if report.empty:
        return page
    verdicts = selectors.VERDICTS
    v = report.verdicts
    page.headlines.append(
        f"Verdicts: {v.get('rejected', 0)} rejected before contact, {v.get('not_now', 0)} "
        f"nurtured or disqualified after contact, {v.get('sql', 0)} qualified to SQL."
    )
    cells = []
    for item in report.items:
        line = []
        for key, label in verdicts:
            c = item.by_verdict[key]
            for share, what, n in (
                (c.unknown_share, "unknown", c.unknown),
                (c.not_met_share, "not met", c.not_met),
            ):
                line.append(
                    charts.Cell(
                        share,
                        _pct(share) if share is not None else "—",
                        f"{item.question} · {label}: {what} in {n} of {c.verdicts}",
                    )
                )
        cells.append(line)
    short = {"rejected": "Rejected", "not_now": "After contact", "sql": "SQL"}
    columns = [Column("Item"), Column("Criteria version"), Column("Must-have")]
    for key, _ in verdicts:
        columns += [
            Column(f"{short[key]}: unknown", "share"),
            Column(f"{short[key]}: not met", "share"),
        ]
    rows = []
    for item in report.items:
        row: list[Any] = [item.question, item.version, "yes" if item.must_have else "no"]
        for key, _ in verdicts:
            c = item.by_verdict[key]
            row += [Share(c.unknown, c.verdicts), Share(c.not_met, c.verdicts)]
        rows.append(row)
    page.sections.append(
        Section(
            key="items",
            title="Unknown or not met, by verdict",
            chart=_chart(
                charts.heat_map(
                    "Share of verdicts with the item unknown or not met",
                    [f"{i.question} ({i.version})" for i in report.items],
                    [
                        f"{short[key]}: {what}"
                        for key, _ in verdicts
                        for what in ("unknown", "not met")
                    ],
                    cells,
                    x_label="Verdict and answer",
                    y_label="Checklist item",
                )
            ),
            table=Table(columns, rows),
            notes=[
                "Reps reject before contact, so at a rejection most items are still unknown; "
                "a must-have that is often unknown or not met after contact is where "
                "qualification stalls."
            ],
        )
    )
    return page


@dataclass(frozen=True)
class ReportSpec:
    slug: str
    title: str
    question: str
    builder: Callable[..., Page]

    def build(self, scope: ReportScope, params=None) -> Page:
        # every query of the report in one transaction, JIT off (selectors.report_queries)
        with selectors.report_queries(scope.leads.db):
            return self.builder(scope, params)


REPORTS = {
    spec.slug: spec
    for spec in (
        ReportSpec(
            "funnel",
            "Funnel",
            "How many MQLs become SQLs and opportunities, per channel, how fast, and where "
            "the rest go?",
            funnel_page,
        ),
        ReportSpec(
            "sla",
            "SLA compliance",
            "Are we fast enough? Share of clocks met, time to act, breaches by week.",
            sla_page,
        ),
        ReportSpec(
            "calibration",
            "Rep calibration",
            "Do reps apply the same rules? Each rep against the team, with flags.",
            calibration_page,
        ),
        ReportSpec(
            "rejections",
            "Rejection reasons",
            "Why MQLs are rejected, by channel and rep, and which rejections lack a note.",
            rejections_page,
        ),
        ReportSpec(
            "scores",
            "Score calibration",
            "Is the score telling the truth, and where should the threshold be?",
            score_page,
        ),
        ReportSpec(
            "scorecard",
            "Service-level scorecard",
            "Both sides of the agreement, weekly: MQLs and acceptance, decisions and first "
            "touches in SLA.",
            scorecard_page,
        ),
        ReportSpec(
            "planner",
            "Pipeline planner",
            "How many SQLs and MQLs a revenue target needs per month.",
            planner_page,
        ),
        ReportSpec(
            "checklist",
            "Checklist",
            "Which checklist items are unknown or not met when leads are rejected or reach SQL.",
            checklist_page,
        ),
    )
}
