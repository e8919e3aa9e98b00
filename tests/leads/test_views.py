"""The pages, tried by the personas: a rep, another rep, a manager, marketing ops."""

import datetime as dt
import re

import pytest
from django import forms
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from leads import services
from leads.forms import PlainRadioSelect, PlainSelect
from leads.models import Lead, StageChange
from leads.stages import Stage
from leads.tables import BoundedPaginator
from qualification.models import Reason
from routing.models import Notification, Team, TeamMembership
from tests.factories import (
    EngagementEventFactory,
    LeadFactory,
    TouchFactory,
    active_criteria_with_checklist,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(manager, rep, other_rep):
    team = Team.objects.create(name="Industrial East", manager=manager)
    TeamMembership.objects.create(team=team, user=rep)
    TeamMembership.objects.create(team=team, user=other_rep)
    return team


def login(client, user):
    client.force_login(user)
    return client


# --- home and navigation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "home"),
    [("rep", "/queue/"), ("manager", "/team/"), ("marketing", "/marketing/leads/")],
)
def test_home_is_the_page_of_the_users_role(client, request, persona, home):
    user = request.getfixturevalue(persona)

    response = login(client, user).get("/")

    assert response.status_code == 302
    assert response["Location"] == home


# --- the rep's queue -------------------------------------------------------------------


def test_the_queue_shows_my_mqls_and_accepted_leads_hot_first(client, rep, other_rep):
    standard = LeadFactory(stage=Stage.MQL, owner=rep, last_name="Plainfield")
    hot = LeadFactory(stage=Stage.ACCEPTED, owner=rep, last_name="Hotchkiss", priority="hot")
    LeadFactory(stage=Stage.MQL, owner=other_rep, last_name="Notmine")
    LeadFactory(stage=Stage.SQL, owner=rep, last_name="Alreadysql")

    page = login(client, rep).get("/queue/").content.decode()

    assert "Notmine" not in page and "Alreadysql" not in page
    assert page.index(hot.last_name) < page.index(standard.last_name)


def test_within_a_priority_the_queue_puts_the_most_urgent_clock_first(client, rep):
    """An MQL to decide within the hour comes before an accepted lead whose qualification
    is due next week, though that one has waited longer; leads without a clock come last."""
    now = timezone.now()
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    for stage, name, waiting, due in [
        (Stage.ACCEPTED, "Nextweek", 3 * day, now + 7 * day),
        (Stage.ACCEPTED, "Noclock", 9 * day, None),
        (Stage.MQL, "Withinthehour", hour, now + 40 * dt.timedelta(minutes=1)),
    ]:
        LeadFactory(
            stage=stage,
            owner=rep,
            priority="hot",
            last_name=name,
            stage_entered_at=now - waiting,
            sla_due_at=due,
        )
    LeadFactory(stage=Stage.MQL, owner=rep, last_name="Standardsoon", sla_due_at=now)

    page = login(client, rep).get("/queue/").content.decode()

    order = ["Withinthehour", "Nextweek", "Noclock", "Standardsoon"]
    assert [page.index(name) for name in order] == sorted(page.index(name) for name in order)


def test_the_queue_filters_by_stage(client, rep):
    LeadFactory(stage=Stage.MQL, owner=rep, last_name="Mqllead")
    LeadFactory(stage=Stage.ACCEPTED, owner=rep, last_name="Acceptedlead")

    page = login(client, rep).get("/queue/?stage=accepted").content.decode()

    assert "Acceptedlead" in page and "Mqllead" not in page


def test_accepting_from_the_queue_row_returns_to_the_queue(client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    response = login(client, rep).post(
        f"/leads/{lead.pk}/transitions/accept/",
        {"seen_stage": "mql", "next": "/queue/?stage=mql"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == "/queue/?stage=mql"
    assert "Lead accepted" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.ACCEPTED


def queries_of(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def more_leads(count: int, **kwargs) -> list[Lead]:
    """Leads with a running clock each, as lists show them (badge, due time on the
    clock's calendar). One account and criteria version for all: only the number of
    leads matters here."""
    from routing import sla
    from tests.factories import SlaPolicyFactory

    shared = LeadFactory(**kwargs)
    rest = LeadFactory.create_batch(
        count - 1, account=shared.account, criteria_set=shared.criteria_set, **kwargs
    )
    leads = [shared, *rest]
    # a policy (and calendar) of its own for each call: lists meet several
    policy = SlaPolicyFactory(active=False)
    sla.start_clocks(
        starts=[sla.ClockStart(lead, "decision", lead.owner, policy) for lead in leads],
        at=timezone.now(),
    )
    return leads


def test_the_queue_runs_the_same_queries_for_10_and_200_leads(client, rep):
    login(client, rep)
    more_leads(10, stage=Stage.MQL, owner=rep)
    few = queries_of(client, "/queue/")

    more_leads(190, stage=Stage.ACCEPTED, owner=rep)
    many = queries_of(client, "/queue/")

    assert few == many <= 12


def test_the_queue_says_how_many_leads_and_stops_counting_past_a_bound(client, rep, monkeypatch):
    monkeypatch.setattr(BoundedPaginator, "bound", 30)
    leads = more_leads(80, stage=Stage.MQL, owner=rep)
    login(client, rep)

    first = client.get("/queue/").content.decode()
    # counted no further than the next page: 25 a page, so 50 rows and one more
    assert "More than 50 leads" in first
    assert "?page=2" in first

    third = client.get("/queue/?page=3").content.decode()
    assert "80 leads" in third and "More than" not in third
    shown = [lead.pk for lead in leads if f'href="/leads/{lead.pk}/"' in third]
    assert len(shown) == 25

    Lead.objects.filter(pk__in=[lead.pk for lead in leads[12:]]).delete()
    assert "12 leads" in client.get("/queue/").content.decode()


# --- the lead page ---------------------------------------------------------------------


def test_a_rep_gets_404_for_another_reps_lead_page_and_actions(client, rep, other_rep):
    lead = LeadFactory(stage=Stage.MQL, owner=other_rep)
    login(client, rep)

    assert client.get(f"/leads/{lead.pk}/").status_code == 404
    assert client.post(f"/leads/{lead.pk}/transitions/accept/").status_code == 404
    assert client.post(f"/leads/{lead.pk}/touches/", {}).status_code == 404
    assert client.post(f"/leads/{lead.pk}/checklist/", {}).status_code == 404
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_the_lead_page_offers_only_the_actions_that_would_succeed(client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    page = login(client, rep).get(f"/leads/{lead.pk}/").content.decode()

    assert f"/leads/{lead.pk}/transitions/accept/" in page
    assert f"/leads/{lead.pk}/transitions/reject/" in page
    assert "transitions/qualify_sql/" not in page
    assert "transitions/recycle/" not in page


def test_a_rejection_without_reason_shows_the_sentence_keeps_the_note_and_changes_nothing(
    client, rep
):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    response = login(client, rep).post(
        f"/leads/{lead.pk}/transitions/reject/",
        {"seen_stage": "mql", "reject-reason": "", "reject-note": "They build yachts"},
    )

    page = response.content.decode()
    assert response.status_code == 409
    assert "Choose a rejection reason." in page
    assert "They build yachts" in page  # nothing the rep typed is lost
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    assert not StageChange.objects.filter(lead=lead).exists()


def test_rejecting_with_a_reason_says_which(client, rep):
    from qualification.models import Reason

    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    reason = Reason.objects.get(code="misrouted")

    response = login(client, rep).post(
        f"/leads/{lead.pk}/transitions/reject/",
        {"seen_stage": "mql", "reject-reason": reason.pk, "reject-note": ""},
        follow=True,
    )

    assert f"Rejected: {reason.label}" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED


def test_a_stale_page_is_told_to_reload(client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    services.accept(lead=lead, by=rep)

    response = login(client, rep).post(
        f"/leads/{lead.pk}/transitions/accept/", {"seen_stage": "mql"}
    )

    assert response.status_code == 409
    assert "Reload" in response.content.decode()
    assert StageChange.objects.filter(lead=lead).count() == 1


def test_the_checklist_form_saves_answers_and_unlocks_sql(client, rep):
    criteria = active_criteria_with_checklist(("Budget owner identified", True))
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)
    item = criteria.checklist_items.get()
    login(client, rep)

    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Needs more info" in page and "Budget owner identified" in page

    client.post(
        f"/leads/{lead.pk}/checklist/",
        {f"checklist-answer_{item.pk}": "confirmed", f"checklist-evidence_{item.pk}": "CFO"},
    )
    response = client.post(
        f"/leads/{lead.pk}/transitions/qualify_sql/",
        {"seen_stage": "accepted", "qualify_sql-next_step": "Workshop on Tuesday"},
        follow=True,
    )

    assert "Qualified to SQL" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SQL


def test_logging_a_touch_shows_it_on_the_timeline(client, rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)
    login(client, rep)

    client.post(
        f"/leads/{lead.pk}/touches/",
        {"touch-kind": "call", "touch-outcome": "connected", "touch-note": "Spoke to Ada"},
    )

    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Call: Connected" in page and "Spoke to Ada" in page


def _rejections_and_notices(lead, rep, count: int) -> None:
    """Stage changes with an actor and a reason, and notifications, on the timeline."""
    reason = Reason.objects.filter(kind=Reason.Kind.REJECTION).first()
    now = timezone.now()
    for i in range(count):
        StageChange.objects.create(
            lead=lead,
            from_stage=Stage.MQL,
            to_stage=Stage.REJECTED,
            transition="reject",
            actor=rep,
            at=now - dt.timedelta(minutes=i),
            reason=reason,
            note=f"not now {i}",
            checklist_snapshot=[{"item": 1, "question": "Budget?", "answer": "unknown"}],
            fit_score=10,
            engagement_score=5,
        )
        Notification.objects.create(
            recipient=rep,
            kind=Notification.Kind.NEW_MQL,
            lead=lead,
            title=f"New MQL {i}",
            body="…",
            context={"lead_id": lead.pk},
        )


def test_the_lead_page_runs_the_same_queries_for_10_and_200_timeline_entries(client, rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)
    login(client, rep)
    EngagementEventFactory.create_batch(5, lead=lead)
    TouchFactory.create_batch(5, lead=lead, by=rep)
    _rejections_and_notices(lead, rep, 2)
    client.get(f"/leads/{lead.pk}/")  # published scoring rules are read once per process
    few = queries_of(client, f"/leads/{lead.pk}/")

    # 190 entries in all, within the 200 the page shows
    EngagementEventFactory.create_batch(30, lead=lead)
    TouchFactory.create_batch(90, lead=lead, by=rep)
    _rejections_and_notices(lead, rep, 28)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    many = queries_of(client, f"/leads/{lead.pk}/")

    assert few == many <= 22
    assert page.count("Call: Connected") == 95
    # each stage change names who made it and why; each notification, whom it told
    name = rep.get_full_name() or rep.username
    reason = Reason.objects.filter(kind=Reason.Kind.REJECTION).first()
    assert page.count(escape(f"{reason.label} — not now")) == 30
    assert page.count(f"to {escape(name)}") >= 30


def test_user_text_is_escaped(client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep, first_name="<script>alert(1)</script>")

    for path in ("/queue/", f"/leads/{lead.pk}/"):
        page = login(client, rep).get(path).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_forms_are_protected_against_csrf(rep):
    from django.test import Client

    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(rep)

    response = strict.post(f"/leads/{lead.pk}/transitions/accept/", {"seen_stage": "mql"})

    assert response.status_code == 403
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


# --- marketing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/marketing/leads/", "/marketing/rejected/", "/marketing/nurture/", "/marketing/leads.csv"],
)
def test_marketing_pages_are_for_marketing_ops(client, rep, manager, marketing, path):
    assert login(client, rep).get(path).status_code == 403
    assert login(client, manager).get(path).status_code == 403
    assert login(client, marketing).get(path).status_code == 200


def test_a_lead_nobody_owns_says_so_on_its_page(client, marketing):
    from routing.models import Assignment

    waiting = LeadFactory(stage=Stage.ENGAGED, owner=None)
    unrouted = LeadFactory(stage=Stage.MQL, owner=None)
    Assignment.objects.create(
        lead=unrouted,
        kind=Assignment.Kind.UNASSIGNED,
        explanation=["Nobody in the team has room for another MQL."],
        at=timezone.now(),
    )
    login(client, marketing)

    for lead in (waiting, unrouted):
        response = client.get(f"/leads/{lead.pk}/")
        assert response.status_code == 200
        assert re.search(r"<dt>Owner</dt><dd>\s*nobody\s*</dd>", response.content.decode())
    page = response.content.decode()
    assert "Why this lead has no owner" in page
    assert "Nobody in the team has room for another MQL." in page


def test_marketing_reads_any_lead_but_cannot_take_sales_actions(client, rep, marketing):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    login(client, marketing)

    assert client.get(f"/leads/{lead.pk}/").status_code == 200
    response = client.post(f"/leads/{lead.pk}/transitions/accept/", {"seen_stage": "mql"})
    assert response.status_code == 409
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_the_csv_export_has_the_pages_filters(client, marketing):
    LeadFactory(stage=Stage.MQL, source="rfq", email="rfq@plant.example")
    LeadFactory(stage=Stage.MQL, source="webinar", email="web@plant.example")

    response = login(client, marketing).get("/marketing/leads.csv?source=rfq")

    body = b"".join(response.streaming_content).decode()
    assert "rfq@plant.example" in body and "web@plant.example" not in body
    assert body.splitlines()[0].startswith("id,email,")


def test_marketing_recycles_rejected_leads_in_bulk_with_the_reps_reason_in_view(
    client, rep, marketing
):
    first = LeadFactory(stage=Stage.MQL, owner=rep, last_name="First")
    second = LeadFactory(stage=Stage.MQL, owner=rep, last_name="Second")
    for lead in (first, second):
        services.reject(lead=lead, by=rep, reason="rejection-other", note="Wants a catalogue")
    login(client, marketing)

    page = client.get("/marketing/rejected/").content.decode()
    assert "Wants a catalogue" in page and "Other" in page

    response = client.post(
        "/marketing/rejected/bulk/",
        {"action": "recycle", "leads": [first.pk, second.pk], "note": "Newsletter"},
        follow=True,
    )
    assert "Recycled to nurture: 2 leads" in response.content.decode()
    assert set(Lead.objects.values_list("stage", flat=True)) == {Stage.NURTURE}


def test_a_bulk_disqualify_without_reason_says_why_per_lead(client, rep, marketing):
    lead = LeadFactory(stage=Stage.MQL, owner=rep, last_name="Keeper")
    services.reject(lead=lead, by=rep, reason="duplicate")

    response = login(client, marketing).post(
        "/marketing/rejected/bulk/", {"action": "disqualify", "leads": [lead.pk]}, follow=True
    )

    assert "Choose a disqualification reason." in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED


@pytest.mark.parametrize("rows", [3, 30])
def test_marketing_lists_run_a_constant_number_of_queries(
    client, marketing, rep, django_assert_max_num_queries, rows
):
    for _ in range(rows):
        lead = LeadFactory(stage=Stage.MQL, owner=rep)
        services.reject(lead=lead, by=rep, reason="duplicate")
        LeadFactory(stage=Stage.NURTURE, follow_up_on=timezone.localdate() + dt.timedelta(5))
    login(client, marketing)

    for path in ("/marketing/leads/", "/marketing/rejected/", "/marketing/nurture/"):
        with django_assert_max_num_queries(14):
            assert client.get(path).status_code == 200


# --- the manager's team page -------------------------------------------------------------


def test_the_team_page_shows_the_teams_leads_only(client, team, manager, rep):
    LeadFactory(stage=Stage.MQL, owner=rep, last_name="Teamlead")
    LeadFactory(stage=Stage.MQL, last_name="Elsewhere")

    page = login(client, manager).get("/team/").content.decode()

    assert "Teamlead" in page and "Elsewhere" not in page
    # the owner by name, as the lead page names them, not by login
    assert f'data-label="Owner">{escape(rep.get_full_name())}</td>' in page


def test_a_manager_reassigns_in_bulk(client, team, manager, rep, other_rep):
    leads = [LeadFactory(stage=Stage.MQL, owner=rep) for _ in range(2)]

    response = login(client, manager).post(
        "/team/reassign/",
        {"leads": [lead.pk for lead in leads], "to": other_rep.pk, "note": "Rita is out"},
        follow=True,
    )

    assert "Reassigned 2 leads" in response.content.decode()
    assert set(Lead.objects.values_list("owner", flat=True)) == {other_rep.pk}


def test_the_team_page_is_for_managers(client, rep):
    assert login(client, rep).get("/team/").status_code == 403


def test_the_team_page_runs_the_same_queries_for_10_and_200_leads(
    client, team, manager, rep, other_rep
):
    login(client, manager)
    more_leads(5, stage=Stage.MQL, owner=rep)
    more_leads(5, stage=Stage.SQL, owner=other_rep)
    few = queries_of(client, "/team/")

    more_leads(100, stage=Stage.ACCEPTED, owner=rep)
    more_leads(90, stage=Stage.MQL, owner=other_rep)
    many = queries_of(client, "/team/")

    assert few == many <= 12


def team_page_order(client, path: str) -> list[int]:
    page = client.get(path).content.decode()
    return [int(pk) for pk in re.findall(r'name="leads" value="(\d+)"', page)]


def test_the_team_page_lists_every_members_leads_most_urgent_first_across_pages(
    client, team, manager, rep, other_rep
):
    now = timezone.now()
    leads = (
        more_leads(30, stage=Stage.MQL, owner=rep)
        + more_leads(30, stage=Stage.ACCEPTED, owner=other_rep)
        + more_leads(5, stage=Stage.SQL, owner=manager)
    )
    for i, lead in enumerate(leads):
        # interleaved due times, some equal (then the older lead first), some without
        due = None if i % 7 == 0 else now + dt.timedelta(hours=(i * 37) % 50 - 20)
        Lead.objects.filter(pk=lead.pk).update(sla_due_at=due)
    expected = list(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads])
        .order_by(F("sla_due_at").asc(nulls_last=True), "pk")
        .values_list("pk", flat=True)
    )
    login(client, manager)

    first, second = team_page_order(client, "/team/"), team_page_order(client, "/team/?page=2")

    assert first + second == expected
    assert len(first) == 50
    # a filter narrows the merged list and keeps its order
    hot = [lead.pk for lead in leads[::3]]
    Lead.objects.filter(pk__in=hot).update(priority=Lead.Priority.HOT)
    assert team_page_order(client, "/team/?priority=hot") == [pk for pk in expected if pk in hot]


def test_the_team_pages_merged_list_reads_each_owners_leads_from_an_index(
    team, manager, rep, other_rep
):
    from leads.selectors import URGENT_FIRST, UrgentFirst, team_owner_ids, visible_leads

    more_leads(30, stage=Stage.MQL, owner=rep)
    more_leads(30, stage=Stage.ACCEPTED, owner=other_rep)
    leads = visible_leads(manager).filter(stage__in=(Stage.MQL, Stage.ACCEPTED, Stage.SQL))
    merged = UrgentFirst(leads.order_by(*URGENT_FIRST), team_owner_ids(manager))
    with CaptureQueriesContext(connection) as captured:
        assert merged.count_up_to(1001) == 60
        assert len(merged[0:50]) == 50

    def plan_of(sql: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE leads_lead")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())

    # one index range per owner, never a scan of all leads (at a million leads both
    # read lead_team_by_due; with this handful the planner may take the owner index)
    for plan in (plan_of(query["sql"]) for query in captured.captured_queries[:2]):
        assert "owner_id = owners.owner_id" in plan, plan
        assert "Seq Scan on leads_lead" not in plan, plan


def test_a_filter_the_team_page_cannot_read_says_why_and_lists_nothing(client, team, manager, rep):
    LeadFactory(stage=Stage.MQL, owner=rep, last_name="Teamlead")
    login(client, manager)

    response = client.get("/team/?priority=urgentest")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Select a valid choice. urgentest is not one of the available choices." in page
    assert "Teamlead" not in page and "Your team has no open leads." in page


def test_the_team_page_stops_counting_past_a_bound(
    client, team, manager, rep, other_rep, monkeypatch
):
    monkeypatch.setattr(BoundedPaginator, "bound", 60)
    more_leads(70, stage=Stage.MQL, owner=rep)
    more_leads(50, stage=Stage.MQL, owner=other_rep)
    login(client, manager)

    assert "More than 100 leads" in client.get("/team/").content.decode()
    assert "120 leads" in client.get("/team/?page=3").content.decode()


def test_the_lead_page_says_what_blocks_sql(client, rep):
    criteria = active_criteria_with_checklist(("Budget owner identified", True))
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)

    page = login(client, rep).get(f"/leads/{lead.pk}/").content.decode()

    assert "Qualify to SQL: not yet." in page
    assert "Checklist item &#x27;Budget owner identified&#x27; is not confirmed" in page


def test_the_team_page_puts_the_most_overdue_lead_first_and_follows_the_clocks(
    client, team, manager, rep
):
    import datetime as dt

    from django.utils import timezone

    from routing.models import SlaClock
    from tests.factories import SlaPolicyFactory

    SlaPolicyFactory()  # standard: decide within 4 business hours
    Team.objects.filter(pk=team.pk).update(is_default=True)  # routing sends MQLs here
    now = timezone.now()
    fresh = LeadFactory(stage=Stage.ENGAGED, last_name="Freshlead")
    late = LeadFactory(stage=Stage.ENGAGED, last_name="Latelead")
    services.qualify_mql(lead=fresh, at=now)
    services.qualify_mql(lead=late, at=now - dt.timedelta(days=7))
    for lead in (fresh, late):
        lead.refresh_from_db()
        assert lead.owner is not None  # routed to the team, so its decision clock runs
        running = SlaClock.objects.get(lead=lead, stopped_at__isnull=True)
        assert lead.sla_due_at == running.due_at

    page = login(client, manager).get("/team/").content.decode()
    assert page.index("Latelead") < page.index("Freshlead")

    services.accept(lead=late, by=manager)
    late.refresh_from_db()
    first_touch = SlaClock.objects.filter(lead=late, stopped_at__isnull=True).order_by("due_at")
    assert late.sla_due_at == first_touch.first().due_at


@pytest.mark.parametrize(
    ("plain", "django_widget"),
    [(PlainSelect, forms.Select), (PlainRadioSelect, forms.RadioSelect)],
)
@pytest.mark.parametrize(
    ("value", "attrs", "choices"),
    [
        ("", {"id": "id_stage"}, [("", "All stages"), ("mql", "MQL"), ("x", "<b>&</b>")]),
        ("mql", {"id": "id_s", "class": "c", "required": True, "disabled": False}, [("mql", "M")]),
        ("b", None, [("Group <1>", [("a", "A"), ("b", "B")]), ("c", "C")]),
        (3, {"id": "id_n"}, [(1, "one"), (3, "three")]),
    ],
)
def test_the_plain_widgets_write_what_djangos_templates_write(
    plain, django_widget, value, attrs, choices
):
    expected = django_widget(choices=choices).render("field", value, attrs)

    assert plain(choices=choices).render("field", value, attrs) == expected


def test_the_lead_page_gives_a_clocks_due_time_as_its_notices_do(client, rep):
    """The business hours are the calendar's (Berlin): the page and the warning and
    breach notices name the same wall-clock time, with its zone."""
    from routing import sla
    from tests.factories import SlaPolicyFactory

    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    policy = SlaPolicyFactory(decision_minutes=4 * 60)  # 9 to 17, Berlin
    # Monday 2 March 2026, 10:00 in Berlin: four business hours later is 14:00 there
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    clock = sla.start_clock(lead=lead, kind="decision", at=start, owner=rep, policy=policy)

    page = login(client, rep).get(f"/leads/{lead.pk}/").content.decode()

    assert "due Mon 02 Mar 2026, 14:00 CET" in page
    assert sla.due_text(clock) == "Mon 02 Mar 2026, 14:00 CET"


def test_the_lead_page_lists_the_most_urgent_clock_first(client, rep):
    from routing import sla
    from tests.factories import SlaPolicyFactory

    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)
    # a policy whose qualification target is shorter than its first touch's
    policy = SlaPolicyFactory(first_touch_minutes=8 * 60, qualification_minutes=60)
    now = timezone.now()
    sla.start_clock(lead=lead, kind="first_touch", at=now, owner=rep, policy=policy)
    sla.start_clock(lead=lead, kind="qualification", at=now, owner=rep, policy=policy)

    page = login(client, rep).get(f"/leads/{lead.pk}/").content.decode()

    clocks = page.split('<ul class="clocks">')[1].split("</ul>")[0]
    assert clocks.index("Qualification") < clocks.index("First touch")


def test_choice_lists_are_read_in_one_plain_query_each(client, rep, manager, team):
    """The reject form's reasons and the lists' product-line filter: all their choices,
    read without a server-side cursor (DECLARE, FETCH, CLOSE for a few dozen rows)."""
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    reasons = Reason.objects.filter(kind=Reason.Kind.REJECTION, active=True, system=False)
    assert reasons.exists()
    pages = [(rep, f"/leads/{lead.pk}/"), (rep, "/queue/"), (manager, "/team/")]
    for user, path in pages:
        login(client, user)
        with CaptureQueriesContext(connection) as captured:
            page = client.get(path).content.decode()
        assert not [q["sql"] for q in captured if "DECLARE" in q["sql"]], path
        if path.startswith("/leads/"):
            for reason in reasons:
                assert f">{escape(reason.label)}</option>" in page
