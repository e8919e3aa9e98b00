"""A cohort's stage changes and SLA clocks (ReportScope.of_cohort) are exactly those of
the cohort's leads, whichever filters make the cohort, and PostgreSQL reads the lead
table once for them (EXPLAIN), not once for the cohort and again for the leads' columns.

The March cohort of conftest: L1-L6 are MQLs in March (Rita: L1, L2, L6; Otto: L3, L4,
L5; L5 and L6 from webinars), L7 never an MQL, L8 an MQL in February.
"""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Lead, StageChange
from reporting import selectors
from routing.models import Assignment, SlaClock

from .conftest import MQL, NOW, T0, journey, scope_for

pytestmark = pytest.mark.django_db


def leads_of(rows) -> set[int]:
    return set(rows.values_list("lead", flat=True))


@pytest.fixture
def routed_west(march, west):
    """Rita's L2 routed to West (a team wins over the owner's team), and a West lead."""
    walt = west.memberships.get().user
    Assignment.objects.create(lead=march["L2"], kind="rule", owner=walt, team=west, at=T0)
    Lead.objects.filter(pk=march["L2"].pk).update(routed_team=west)  # as routing keeps it
    return journey([(MQL, 24)], owner=walt)


def test_the_cohort_rows_are_the_rows_of_the_cohort_leads(
    clocks, march, routed_west, marketing, manager, rep, east, west
):
    m = march
    l1, l2, l3, l4, l5, l6 = (m[f"L{i}"].pk for i in range(1, 7))
    scopes = {
        "no filter": (scope_for(marketing), {l1, l2, l3, l4, l5, l6, routed_west.pk}),
        # L2 was routed to West: East keeps the rest of Rita's and Otto's MQLs
        "team East": (scope_for(marketing, team=east.pk), {l1, l3, l4, l5, l6}),
        "team West": (scope_for(marketing, team=west.pk), {l2, routed_west.pk}),
        "rep": (scope_for(marketing, owner=rep.pk), {l1, l2, l6}),
        "channel": (scope_for(marketing, source="webinar"), {l5, l6}),
        # a filter on the account's segment joins another table: the subquery way
        "segment": (scope_for(marketing, segment="enterprise"), set()),
        # a manager sees their teams' members' leads
        "manager": (scope_for(manager), {l1, l2, l3, l4, l5, l6}),
    }
    for label, (scope, expected) in scopes.items():
        cohort = set(scope.cohort().values_list("pk", flat=True))
        assert cohort == expected, label
        changes = StageChange.objects.filter(lead__in=cohort)
        assert leads_of(scope.of_cohort(StageChange.objects.all())) == leads_of(changes), label
        assert set(scope.of_cohort(StageChange.objects.all()).values_list("pk", flat=True)) == (
            set(changes.values_list("pk", flat=True))
        ), label
        clocks_of = set(SlaClock.objects.filter(lead__in=cohort).values_list("pk", flat=True))
        assert set(scope.of_cohort(SlaClock.objects.all()).values_list("pk", flat=True)) == (
            clocks_of
        ), label


def test_an_archived_lead_leaves_the_cohort_rows(clocks, march, marketing):
    Lead.objects.filter(pk=march["L1"].pk).update(archived_at=NOW)

    rows = scope_for(marketing).of_cohort(SlaClock.objects.all())

    assert march["L1"].pk not in leads_of(rows)
    assert march["L2"].pk in leads_of(rows)


def _scans(plan: dict, table: str) -> int:
    found = int(plan.get("Relation Name") == table)
    return found + sum(_scans(child, table) for child in plan.get("Plans", []))


@pytest.mark.parametrize("params", [{}, {"team": "east"}, {"owner": "rep"}])
def test_postgresql_reads_the_lead_table_once_for_a_cohorts_clocks(
    clocks, marketing, east, rep, params
):
    given = {name: (east.pk if value == "east" else rep.pk) for name, value in params.items()}
    rows = scope_for(marketing, **given).of_cohort(SlaClock.objects.all())
    sql, values = rows.values("kind", "lead__source").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", values)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    assert _scans(plan[0]["Plan"], "leads_lead") == 1


def _nodes(plan: dict) -> list[dict]:
    return [plan] + [node for child in plan.get("Plans", []) for node in _nodes(child)]


def test_postgresql_collects_a_reports_times_in_parallel_workers(clocks, marketing):
    """The SLA report's times are listed per group by handoff_values, which parallel
    workers collect and the leader combines: an ordered-set aggregate (percentile_cont)
    or PostgreSQL 15's array_agg would have every row sent to one process first."""
    with CaptureQueriesContext(connection) as captured, selectors.report_queries():
        selectors.sla_compliance(scope_for(marketing))
    [sql] = [q["sql"] for q in captured.captured_queries if "HANDOFF_VALUES" in q["sql"]]
    with connection.cursor() as cursor:
        # the tables' statistics as of this test's rows, not of what earlier tests left
        tables = sorted(set(re.findall(r'(?:FROM|JOIN) "(\w+)"', sql)))
        cursor.execute(f"ANALYZE {', '.join(tables)}")
        # a few rows: parallel scans made free and lookups dear, as at a million leads
        # (a row passed from a worker costs what report_queries says: were it free, the
        # planner would have no reason to aggregate in the workers). The work on each row
        # (its times and cases) priced as it weighs at a million: at PostgreSQL's default
        # the plans were within a tenth of each other, and the dead rows earlier tests
        # left in these tables decided between them.
        cursor.execute(
            "SET LOCAL parallel_setup_cost = 0; "
            "SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL enable_nestloop = off; "
            "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; "
            "SET LOCAL cpu_operator_cost = 0.25"
        )
        cursor.execute(f"EXPLAIN (FORMAT JSON, VERBOSE) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    partial = [
        node
        for node in _nodes(plan[0]["Plan"])
        if node.get("Partial Mode") == "Partial"
        and any("handoff_values" in column for column in node.get("Output", []))
    ]
    assert partial, "the times are not collected in the workers"
