"""A batch of engagement events moves every lead it should, as one event at a time would,
and costs the same number of queries for a few leads as for many."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads import services
from leads.models import EngagementEvent, Lead, StageChange
from leads.stages import Stage
from qualification.models import CriteriaSet
from routing.models import Assignment, Notification, SlaClock
from tests.factories import LeadFactory, SlaPolicyFactory, TeamFactory, industrial_criteria

pytestmark = pytest.mark.django_db


@pytest.fixture
def criteria():
    return industrial_criteria()


@pytest.fixture
def team(rep, other_rep):
    SlaPolicyFactory()
    return TeamFactory(reps=[rep, other_rep], is_default=True)


def batch(leads, kind):
    when = timezone.now() - dt.timedelta(minutes=5)
    return [services.NewEvent(lead=lead, kind=kind, occurred_at=when) for lead in leads]


def new_leads(criteria, count):
    return [LeadFactory(criteria_set=criteria, stage=Stage.NEW) for _ in range(count)]


def test_a_batch_engages_qualifies_routes_and_starts_clocks_for_each_lead(
    criteria, team, rep, other_rep
):
    hot = new_leads(criteria, 4)  # an RFQ each: over the line
    warm = new_leads(criteria, 3)  # a page view each: engaged, not an MQL

    results = services.record_events(events=batch(hot, "rfq_submitted") + batch(warm, "page_view"))

    assert [r.created for r in results] == [True] * 7
    assert EngagementEvent.objects.count() == 7
    for lead in hot:
        lead = Lead.objects.get(pk=lead.pk)
        assert lead.stage == Stage.MQL and lead.priority == Lead.Priority.HOT
        assert lead.fast_lane_reason  # an RFQ is a fast lane
        assert list(StageChange.objects.filter(lead=lead).values_list("transition", flat=True)) == [
            "engage",
            "qualify_mql",
        ]
        assert SlaClock.objects.filter(lead=lead, kind="decision", stopped_at__isnull=True).get()
        assert lead.sla_due_at is not None
        assert Notification.objects.filter(lead=lead, recipient=lead.owner, kind="new_mql").exists()
    for lead in warm:
        lead = Lead.objects.get(pk=lead.pk)
        assert lead.stage == Stage.ENGAGED and lead.owner is None
        assert lead.engagement_score == 2
    # round robin across the batch: two each, in order
    owners = list(
        Assignment.objects.filter(lead__in=hot).order_by("lead_id").values_list("owner", flat=True)
    )
    assert owners == [rep.pk, other_rep.pk, rep.pk, other_rep.pk]


def test_the_mqls_of_a_batch_keep_the_score_their_audit_row_records(criteria, team):
    hot = new_leads(criteria, 3)

    services.record_events(events=batch(hot, "rfq_submitted"))
    # a later event rescores them: the score at their first MQL stays as it was
    services.record_events(events=batch(hot, "pricing_page_view"))

    for lead in Lead.objects.filter(pk__in=[lead.pk for lead in hot]):
        change = StageChange.objects.get(lead=lead, to_stage=Stage.MQL)
        assert lead.engagement_score > change.engagement_score > 0
        assert (
            lead.first_mql_at,
            lead.first_mql_fit_score,
            lead.first_mql_engagement_score,
            lead.first_mql_criteria_set_id,
        ) == (change.at, change.fit_score, change.engagement_score, criteria.pk)


def test_the_queries_of_a_batch_do_not_grow_with_its_leads(criteria, team):
    services.record_events(events=batch(new_leads(criteria, 2), "rfq_submitted"))  # warm caches

    def queries_for(count):
        leads = new_leads(criteria, 2 * count)
        events = batch(leads[:count], "rfq_submitted") + batch(leads[count:], "page_view")
        with CaptureQueriesContext(connection) as captured:
            services.record_events(events=events)
        assert Lead.objects.filter(pk__in=[x.pk for x in leads[:count]], stage="mql").count() == (
            count
        )
        return len(captured)

    few, many = queries_for(2), queries_for(20)
    assert few == many


def test_an_account_over_its_threshold_gets_one_mql_in_a_batch(criteria, team):
    CriteriaSet.objects.filter(pk=criteria.pk).update(account_engagement_threshold=20)
    first = LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0)
    second = LeadFactory(
        criteria_set=criteria, stage=Stage.ENGAGED, account=first.account, engagement_score=0
    )
    LeadFactory(
        criteria_set=criteria,
        stage=Stage.ENGAGED,
        account=first.account,
        fit_score=0,
        engagement_score=0,
    )

    # 15 + 10 on two contacts: neither reaches 30 alone, the account passes 20
    services.record_events(
        events=batch([first], "pricing_page_view") + batch([second], "content_download")
    )

    mqls = Lead.objects.filter(account=first.account, stage=Stage.MQL)
    assert mqls.count() == 1
    assert "Account engagement 25" in mqls.get().account_mql_reason


def test_events_recorded_late_never_move_a_contact_back_before_its_stage_began(criteria, team):
    # events processed for a past moment (late delivery, or the demo's replayed year)
    CriteriaSet.objects.filter(pk=criteria.pk).update(account_engagement_threshold=20)
    then = timezone.now() - dt.timedelta(days=2)
    before = then - dt.timedelta(days=10)
    first = LeadFactory(
        criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0, stage_entered_at=before
    )
    second = LeadFactory(
        criteria_set=criteria,
        stage=Stage.ENGAGED,
        account=first.account,
        engagement_score=0,
        stage_entered_at=before,
    )
    engaged_after = LeadFactory(  # the best fit, but engaged only after that moment
        criteria_set=criteria,
        stage=Stage.ENGAGED,
        account=first.account,
        fit_score=90,
        engagement_score=0,
        stage_entered_at=then + dt.timedelta(days=1),
    )
    late = [
        services.NewEvent(lead=lead, kind=kind, occurred_at=then - dt.timedelta(minutes=5))
        for lead, kind in ((first, "pricing_page_view"), (second, "content_download"))
    ]

    services.record_events(events=late, now=then)

    assert Lead.objects.get(pk=engaged_after.pk).stage == Stage.ENGAGED
    mql = Lead.objects.get(account=first.account, stage=Stage.MQL)
    assert "Account engagement 25" in mql.account_mql_reason
    assert StageChange.objects.get(lead=mql, to_stage=Stage.MQL).at == then


def test_an_account_mql_goes_to_the_best_contact_that_qualifies_past_the_first_few(
    criteria, team, monkeypatch
):
    monkeypatch.setattr(services, "ACCOUNT_CANDIDATES", 2)  # contacts read per round
    CriteriaSet.objects.filter(pk=criteria.pk).update(account_engagement_threshold=20)
    contact = LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0)
    abroad = [  # a better fit on paper, but outside the served region (a must-have)
        LeadFactory(
            criteria_set=criteria,
            stage=Stage.ENGAGED,
            account=contact.account,
            country="US",
            fit_score=90,
            engagement_score=0,
        )
        for _ in range(3)
    ]

    services.record_events(
        events=batch([contact], "pricing_page_view") + batch([contact], "content_download")
    )

    assert Lead.objects.get(pk=contact.pk).stage == Stage.MQL
    assert not Lead.objects.filter(pk__in=[lead.pk for lead in abroad], stage=Stage.MQL).exists()


def test_an_account_whose_lead_qualifies_in_the_batch_gets_no_second_mql(criteria, team):
    CriteriaSet.objects.filter(pk=criteria.pk).update(account_engagement_threshold=20)
    buyer = LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0)
    colleague = LeadFactory(
        criteria_set=criteria, stage=Stage.ENGAGED, account=buyer.account, engagement_score=0
    )

    # an RFQ makes the buyer an MQL on its own; the two together pass the account's 20
    services.record_events(
        events=batch([buyer], "rfq_submitted") + batch([colleague], "pricing_page_view")
    )

    assert Lead.objects.get(pk=buyer.pk).stage == Stage.MQL
    assert Lead.objects.get(pk=colleague.pk).stage == Stage.ENGAGED
    assert not Lead.objects.exclude(account_mql_reason="").exists()


def test_direct_and_account_mqls_of_a_batch_are_routed_in_turn(criteria, team, rep, other_rep):
    CriteriaSet.objects.filter(pk=criteria.pk).update(account_engagement_threshold=20)
    hot = LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0)
    first = LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0)
    second = LeadFactory(
        criteria_set=criteria,
        stage=Stage.ENGAGED,
        account=first.account,
        fit_score=0,
        engagement_score=0,
    )

    services.record_events(
        events=batch([hot], "rfq_submitted")
        + batch([first], "pricing_page_view")
        + batch([second], "content_download")
    )

    assert Lead.objects.get(pk=hot.pk).owner == rep
    account_mql = Lead.objects.get(account=first.account, stage=Stage.MQL)
    assert account_mql.pk == first.pk and account_mql.owner == other_rep
    assert "Account engagement 25" in account_mql.account_mql_reason
    assert SlaClock.objects.filter(lead=account_mql, kind="decision", stopped_at__isnull=True)


def test_the_queries_of_a_batch_do_not_grow_with_its_account_mqls(criteria, team):
    CriteriaSet.objects.filter(pk=criteria.pk).update(account_engagement_threshold=20)
    services.record_events(events=batch(new_leads(criteria, 2), "rfq_submitted"))  # warm caches

    def queries_for(accounts):
        events, best = [], []
        for _ in range(accounts):
            first = LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0)
            abroad = LeadFactory(  # a better fit, outside the served region: passed over
                criteria_set=criteria,
                stage=Stage.ENGAGED,
                account=first.account,
                country="US",
                fit_score=90,
                engagement_score=0,
            )
            events += batch([first], "pricing_page_view") + batch([abroad], "content_download")
            best.append(first.pk)
        hot = new_leads(criteria, accounts)
        with CaptureQueriesContext(connection) as captured:
            services.record_events(events=batch(hot, "rfq_submitted") + events)
        assert Lead.objects.filter(pk__in=best, stage=Stage.MQL).count() == accounts
        assert Lead.objects.filter(pk__in=[x.pk for x in hot], stage=Stage.MQL).count() == accounts
        return len(captured)

    assert queries_for(2) == queries_for(12)


def test_account_mqls_of_a_batch_are_routed_best_ranked_first(criteria, team, rep, other_rep):
    CriteriaSet.objects.filter(pk=criteria.pk).update(account_engagement_threshold=20)
    first, later = (
        LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0)
        for _ in range(2)
    )
    colleagues = [
        LeadFactory(
            criteria_set=criteria, stage=Stage.ENGAGED, account=lead.account, engagement_score=0
        )
        for lead in (first, later)
    ]

    # both accounts pass 20; the later account's MQL has more engagement (25 against 15)
    services.record_events(
        events=batch([first], "pricing_page_view")
        + batch([colleagues[0]], "content_download")
        + batch([later], "pricing_page_view")
        + batch([later], "content_download")
        + batch([colleagues[1]], "page_view")
    )

    assert Lead.objects.get(pk=later.pk).owner == rep
    assert Lead.objects.get(pk=first.pk).owner == other_rep


def test_rescoring_rewrites_leads_in_place_without_touching_an_index(criteria, team):
    # Scores change on every batch; none of the columns it writes is indexed, and the
    # table keeps room on its pages, so PostgreSQL updates the rows heap-only.
    leads = [
        LeadFactory(criteria_set=criteria, stage=Stage.ENGAGED, engagement_score=0)
        for _ in range(5)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'leads_lead'")
        assert "fillfactor=85" in cursor.fetchone()[0]
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated('leads_lead'::regclass),"
            " pg_stat_get_xact_tuples_hot_updated('leads_lead'::regclass)"
        )
        updated_before, hot_before = cursor.fetchone()

    services.record_events(events=batch(leads, "page_view"))  # +2 each: still engaged

    assert all(
        lead.engagement_score == 2 for lead in Lead.objects.filter(pk__in=[x.pk for x in leads])
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated('leads_lead'::regclass),"
            " pg_stat_get_xact_tuples_hot_updated('leads_lead'::regclass)"
        )
        updated, hot = cursor.fetchone()
    assert updated - updated_before == len(leads)
    assert hot - hot_before == len(leads)


def test_the_new_mql_notification_shows_the_score_the_batch_just_computed(criteria, team):
    hot = new_leads(criteria, 3)
    now = timezone.now()

    with CaptureQueriesContext(connection) as captured:
        services.record_events(events=batch(hot, "rfq_submitted"), now=now)

    # the events are read once, to score: the notification takes the score from there
    event_reads = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "leads_engagementevent"' in q["sql"]
    ]
    assert len([sql for sql in event_reads if "ORDER BY" in sql]) == 1
    for lead in hot:
        lead = Lead.objects.get(pk=lead.pk)
        score = services.compute_score(lead, now)
        top = sorted(score.lines, key=lambda line: -line.points)[:3]
        note = Notification.objects.get(lead=lead, kind="new_mql")
        assert note.context["score_lines"] == [
            f"{line.label}: {line.points:+d}" for line in top if line.points > 0
        ]
        assert f"Why it qualified (fit {lead.fit_score}, engagement {lead.engagement_score})" in (
            note.body
        )
        assert f"- {top[0].label}: {top[0].points:+d}" in note.body


def test_an_event_for_an_archived_or_deleted_lead_is_refused_and_the_rest_of_the_batch_kept(
    criteria, team, marketing
):
    kept, archived, deleted = new_leads(criteria, 3)
    services.archive(lead=archived, by=marketing)
    deleted_id = deleted.pk
    deleted.delete()
    gone = services.NewEvent(lead=deleted_id, kind="rfq_submitted", occurred_at=timezone.now())
    events = [*batch([kept, archived], "rfq_submitted"), gone]

    results = services.record_events(events=events)

    assert [r.created for r in results] == [True, False, False]
    assert [r.refused and r.refused.code for r in results] == [
        None,
        "lead_not_found",
        "lead_not_found",
    ]
    assert list(EngagementEvent.objects.values_list("lead_id", flat=True)) == [kept.pk]
    assert Lead.objects.get(pk=kept.pk).stage == Stage.MQL
    assert Lead.objects.get(pk=archived.pk).stage == Stage.NEW  # not moved
    with pytest.raises(services.LeadActionRefused) as refused:
        services.record_event(lead=archived, kind="rfq_submitted", occurred_at=timezone.now())
    assert refused.value.code == "lead_not_found"
    assert EngagementEvent.objects.count() == 1
