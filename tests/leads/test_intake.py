"""Leads and engagement coming in: upsert, idempotent events, scores that follow, and the
automatic part of the lifecycle (engaged, MQL, fast lane, account MQL)."""

import datetime as dt

import pytest
from django.utils import timezone

from leads import services
from leads.models import Account, EngagementEvent, Lead, StageChange
from leads.services import LeadActionRefused
from leads.stages import Stage
from tests.factories import GOOD_FIT, industrial_criteria

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def criteria():
    return industrial_criteria()


def ingest(**changes):
    return services.ingest_lead(payload={**GOOD_FIT, **changes}, at=NOW)


def event(lead, kind, *, days_ago=0.0, **kwargs):
    return services.record_event(
        lead=lead, kind=kind, occurred_at=NOW - dt.timedelta(days=days_ago), now=NOW, **kwargs
    )


def test_it_creates_then_updates_one_lead_per_normalised_email(criteria):
    first = ingest()
    second = ingest(email="  ada.byron@plant-works.EXAMPLE", title="Plant engineer")

    assert first.created and not second.created
    assert second.lead.pk == first.lead.pk
    assert second.lead.email == "ada.byron@plant-works.example"
    assert second.lead.title == "Plant engineer"
    assert Lead.objects.count() == 1


def test_plus_addressing_is_a_distinct_lead(criteria):
    a = ingest(email="ada@plant-works.example")
    b = ingest(email="ada+rfq@plant-works.example")

    assert a.lead.pk != b.lead.pk


def test_it_never_blanks_a_known_value_with_an_empty_one(criteria):
    ingest(phone="+49 30 1234")
    again = ingest(phone="", first_name="")

    assert again.lead.phone == "+49 30 1234"
    assert again.lead.first_name == "Ada"


def test_one_account_per_domain_whatever_the_spelling(criteria):
    ingest(email="a@ACME.com", website="")
    ingest(email="b@acme.com", website="https://www.Acme.com/en/")

    assert list(Account.objects.values_list("domain", flat=True)) == ["acme.com"]
    assert Lead.objects.filter(account__domain="acme.com").count() == 2


def test_a_free_mail_lead_is_flagged_has_no_account_and_scores_down(criteria):
    result = ingest(email="ada.private@gmail.com", company="")

    lead = result.lead
    assert lead.free_mail is True
    assert lead.account is None
    # region +10, role +10, free mail -20 (no account: no industry, no size) = 0
    assert lead.fit_score == 0


def test_bad_input_is_refused_with_the_field_and_nothing_is_stored(criteria):
    for changes, field in (
        ({"email": "not-an-address"}, "email"),
        ({"source": "carrier-pigeon"}, "source"),
        ({"product_line": "unknown-line"}, "product_line"),
    ):
        with pytest.raises(LeadActionRefused) as info:
            ingest(**changes)
        assert info.value.field == field
    assert Lead.objects.count() == 0


def test_the_first_event_engages_a_new_lead_and_the_score_explains_itself(criteria):
    lead = ingest().lead
    assert lead.stage == Stage.NEW

    result = event(lead, "content_download", external_id="dl-1")

    lead = result.lead
    assert lead.stage == Stage.ENGAGED
    assert (lead.fit_score, lead.engagement_score) == (50, 10)
    lines = services.compute_score(lead, NOW).lines
    assert [(line.label, line.points) for line in lines] == [
        ("Target industry", 20),
        ("Served region", 10),
        ("50+ employees", 10),
        ("Technical or buying role", 10),
        ("Downloaded content", 10),
    ]


def test_the_same_event_twice_changes_nothing(criteria):
    lead = ingest().lead
    event(lead, "pricing_page_view", external_id="ev-1")
    lead.refresh_from_db()
    before = (lead.engagement_score, lead.stage, StageChange.objects.count())

    again = event(lead, "pricing_page_view", external_id="ev-1")

    lead.refresh_from_db()
    assert again.created is False
    assert EngagementEvent.objects.count() == 1
    assert (lead.engagement_score, lead.stage, StageChange.objects.count()) == before


def test_crossing_both_thresholds_makes_an_mql_by_the_system(criteria):
    lead = ingest().lead
    event(lead, "pricing_page_view")  # 15
    result = event(lead, "webinar_attended")  # 15 -> 30 = threshold

    lead = result.lead
    assert lead.stage == Stage.MQL
    assert lead.criteria_set == criteria
    mql = StageChange.objects.get(lead=lead, to_stage=Stage.MQL)
    assert mql.actor is None
    assert (mql.fit_score, mql.engagement_score) == (50, 30)


def test_crossing_only_the_engagement_threshold_is_not_an_mql(criteria):
    # fit: region +10, role +10 = 20 (< 40)
    lead = ingest(industry="Retail", employee_count=10).lead
    event(lead, "pricing_page_view")
    result = event(lead, "webinar_attended")

    assert result.lead.engagement_score == 30
    assert result.lead.stage == Stage.ENGAGED


def test_decayed_engagement_counts_less(criteria):
    lead = ingest().lead
    event(lead, "pricing_page_view", days_ago=30)  # one half-life: 7.5 -> 8
    result = event(lead, "webinar_attended", days_ago=60)  # two: 3.75 -> 4

    assert result.lead.engagement_score == 12
    assert result.lead.stage == Stage.ENGAGED


def test_an_rfq_from_a_must_have_fit_lead_is_a_hot_mql_at_once(criteria):
    lead = ingest(industry="Retail", employee_count=10).lead  # fit 20 only

    result = event(lead, "rfq_submitted")

    lead = result.lead
    assert (lead.stage, lead.priority) == (Stage.MQL, Lead.Priority.HOT)
    assert lead.fast_lane_reason == "RFQ submitted"


def test_an_rfq_from_an_unsupported_region_is_not_an_mql(criteria):
    lead = ingest(country="BR", industry="Retail").lead  # fit 20: only the RFQ could lift it

    result = event(lead, "rfq_submitted")

    assert result.lead.stage == Stage.ENGAGED
    assert result.lead.priority == Lead.Priority.STANDARD


def test_the_account_crossing_its_threshold_makes_its_best_fit_contact_the_mql():
    criteria = industrial_criteria(account_engagement_threshold=40, engagement_threshold=100)
    assert criteria.account_engagement_threshold == 40
    engineer = ingest(email="eng@plant-works.example").lead  # fit 50
    buyer = ingest(email="buy@plant-works.example", role_category="other").lead  # fit 40
    event(buyer, "pricing_page_view")  # 15
    event(buyer, "webinar_attended")  # 30 in all
    event(engineer, "content_download")  # account total 40

    engineer.refresh_from_db()
    buyer.refresh_from_db()
    assert engineer.stage == Stage.MQL
    assert "Account engagement 40 reached the account threshold of 40" in (
        engineer.account_mql_reason
    )
    assert buyer.stage == Stage.ENGAGED


def test_a_recycled_lead_needs_fresh_engagement_to_come_back(criteria, marketing, rep):
    lead = ingest().lead
    event(lead, "pricing_page_view", days_ago=1)
    lead = event(lead, "webinar_attended", days_ago=1).lead
    assert lead.stage == Stage.MQL
    Lead.objects.filter(pk=lead.pk).update(owner=rep)
    lead.refresh_from_db()
    services.reject(lead=lead, by=rep, reason="duplicate", at=NOW)
    lead.refresh_from_db()
    services.recycle(lead=lead, by=marketing, at=NOW)
    lead.refresh_from_db()

    one_view = event(lead, "page_view").lead  # old score still above, fresh only 2
    assert one_view.stage == Stage.NURTURE

    event(lead, "pricing_page_view")
    back = event(lead, "webinar_attended").lead  # fresh 2 + 15 + 15 = 32
    assert back.stage == Stage.MQL
    assert back.mql_cycle == 2


def test_the_nightly_refresh_lets_engagement_decay(criteria):
    lead = ingest(industry="Retail").lead
    event(lead, "pricing_page_view")
    lead.refresh_from_db()
    assert lead.engagement_score == 15

    changed = services.rescore(Lead.objects.all(), now=NOW + dt.timedelta(days=30))

    lead.refresh_from_db()
    assert changed == 1
    assert lead.engagement_score == 8  # 7.5 rounded half away from zero


def test_events_need_a_known_kind_and_an_aware_time(criteria):
    lead = ingest().lead

    with pytest.raises(LeadActionRefused) as kind:
        event(lead, "fax_received")
    with pytest.raises(LeadActionRefused) as naive:
        services.record_event(
            lead=lead, kind="page_view", occurred_at=dt.datetime(2026, 1, 1, 12, 0)
        )

    assert (kind.value.field, naive.value.field) == ("kind", "occurred_at")
    assert EngagementEvent.objects.count() == 0


def test_a_lead_records_the_version_it_was_qualified_under(criteria):
    lead = ingest().lead
    event(lead, "pricing_page_view")
    lead = event(lead, "webinar_attended").lead

    assert lead.stage == Stage.MQL
    assert lead.criteria_set_id == criteria.pk
    assert timezone.is_aware(lead.stage_entered_at)


def test_a_later_submission_does_not_re_credit_the_lead(criteria):
    ingest(source="webinar", campaign="Webinar: sealing")
    again = ingest(source="rfq", campaign="RFQ form", title="Head of engineering")

    assert (again.lead.source, again.lead.campaign) == ("webinar", "Webinar: sealing")
    assert again.lead.title == "Head of engineering"
