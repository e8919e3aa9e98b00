"""The queue, the team page and the SLA sweep read the indexes made for them (a few
thousand demo leads, PostgreSQL's planner with sequential scans discouraged)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from leads import bulk_demo, demo
from leads.selectors import lead_queue_for, visible_leads
from routing import sla

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def indexes_used(queryset) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SET enable_seqscan = off")
        try:
            plan = queryset.explain()
        finally:
            cursor.execute("RESET enable_seqscan")
    return set(re.findall(r"(?:using|Index Scan on|Bitmap Index Scan on) (\w+)", plan))


def team_merge_plan(manager) -> str:
    """The plan of the team page's first page of leads (leads.selectors.UrgentFirst)."""
    from django.test.utils import CaptureQueriesContext

    from leads.selectors import URGENT_FIRST, UrgentFirst, team_owner_ids
    from routing.views import TEAM_STAGES

    leads = visible_leads(manager).filter(stage__in=TEAM_STAGES).order_by(*URGENT_FIRST)
    merged = UrgentFirst(leads, team_owner_ids(manager))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leads_lead")
    with CaptureQueriesContext(connection) as captured:
        assert len(merged[0:50]) == 50
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + captured.captured_queries[0]["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    # the merge: one range of the index per owner, each already in the page's order
    assert "Incremental Sort" not in plan, plan
    return plan


def test_the_lists_and_the_sweep_use_their_indexes():
    demo.create_users()
    demo.create_criteria()
    demo.create_routing()
    bulk_demo.create_leads_bulk(count=3000, months=6)
    rep = get_user_model().objects.get(username="rep")

    queue = lead_queue_for(rep)[:25]
    # the sweep's claim: the first due leads, whatever the number of running clocks
    due = sla.due_leads(timezone.now())

    # either partial index on the open sales stages by owner serves the queue; the
    # planner picks by size (lead_queue is the narrower one, lead_team_by_due a superset)
    assert indexes_used(queue) & {"lead_queue", "lead_team_by_due"}
    # the team page's merge reads each owner's first leads, in the page's order, from
    # lead_team_by_due alone: no visit to the table, no sort per owner (VACUUM marks the
    # pages all-visible, as autovacuum does on a running server)
    assert (
        team_merge_plan(get_user_model().objects.get(username="manager")).count(
            "Index Only Scan using lead_team_by_due"
        )
        == 1
    )
    # partial indexes on running clocks only: stopped clocks are never read
    running_only = {
        "sla_clock_running_due",
        "sla_clock_running_warn",
        "one_running_clock_per_lead_and_kind",
    }
    used = indexes_used(due)
    assert used and used <= running_only
    # nurtured leads come back on their follow-up date: read by that date, whatever the
    # number of nurtured leads
    assert indexes_used(sla.follow_ups_due(timezone.localdate())) == {"lead_follow_up_due"}


def test_the_reports_read_their_cohort_through_the_leads_first_times():
    import datetime as dt

    from reporting.models import ReportTargets
    from reporting.selectors import ReportScope

    demo.create_users()
    demo.create_criteria()
    demo.create_routing()
    bulk_demo.create_leads_bulk(count=3000, months=6)
    now = timezone.now()
    scope = ReportScope(
        leads=visible_leads(get_user_model().objects.get(username="marketing")),
        start=now - dt.timedelta(days=365),
        end=now,
        now=now,
        targets=ReportTargets.load(),
    )

    # a year of MQLs is a range of the lead's first MQL time, not a scan of the history
    assert "lead_first_mql" in indexes_used(scope.cohort())
    assert "lead_entered_funnel" in indexes_used(scope.entries())


# the tables written with every event, stage change, routing, clock and notification
WRITTEN = (
    "leads_lead",
    "leads_engagementevent",
    "leads_stagechange",
    "routing_assignment",
    "routing_slaclock",
    "routing_notification",
)


def test_the_busy_tables_carry_no_index_that_another_one_already_serves():
    """Each index is written with every row: one whose columns lead another index (on the
    same columns compared the same way, over the same rows) costs writes and serves no
    read, and a pattern-matching copy (varchar_pattern_ops) serves no exact match."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, i.relname, x.indkey::int2[], x.indclass::oid[],
                   x.indpred IS NOT NULL OR x.indexprs IS NOT NULL, x.indisunique,
                   pg_get_indexdef(x.indexrelid) LIKE '%%pattern_ops%%'
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = ANY(%s)
            """,
            [list(WRITTEN)],
        )
        indexes = cursor.fetchall()
    assert {row[0] for row in indexes} == set(WRITTEN)

    pattern_copies = sorted(name for _, name, *_, pattern in indexes if pattern)
    redundant = sorted(
        f"{name} (served by {other})"
        for table, name, columns, classes, special, unique, _ in indexes
        if not special and not unique
        for other_table, other, other_columns, other_classes, other_special, *_ in indexes
        if other_table == table
        and other != name
        and not other_special
        and other_columns[: len(columns)] == columns
        and other_classes[: len(classes)] == classes
        and (len(other_columns) > len(columns) or other < name)
    )
    assert {"pattern copies": pattern_copies, "redundant": redundant} == {
        "pattern copies": [],
        "redundant": [],
    }


def test_the_account_mql_search_finds_its_accounts_in_the_candidates_index():
    from leads import services
    from leads.models import Lead
    from leads.stages import Stage

    demo.create_users()
    demo.create_criteria()
    demo.create_routing()
    bulk_demo.create_leads_bulk(count=3000, months=6)
    contacts = Lead.objects.filter(account__isnull=False).select_related("criteria_set")
    accounts = {lead.account_id: (lead.criteria_set, 1) for lead in contacts.order_by("pk")[:200]}
    # the accounts of a batch that have a contact who may become their MQL
    possible = (
        services._account_candidates(accounts, timezone.now(), in_time_order=False)
        .values_list("account_id", flat=True)
        .distinct()
        .order_by()
    )

    assert indexes_used(possible) == {"lead_account_mql_candidates"}
    assert set(possible) == {
        lead.account_id
        for lead in contacts.filter(account_id__in=accounts)
        if lead.stage in (Stage.NEW, Stage.ENGAGED)
        and not lead.free_mail
        and lead.criteria_set_id == accounts[lead.account_id][0].pk
        and services.ready_for_handoff(lead)
    }
