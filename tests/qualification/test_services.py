import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from leads import services as lead_services
from leads.stages import Stage
from qualification import services
from qualification.models import ChecklistItem, CriteriaSet, ScoringRule
from qualification.selectors import impact_preview, missing_details
from tests.factories import LeadFactory, industrial_criteria, scoring_rule

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def test_it_refuses_to_edit_an_active_version():
    active = industrial_criteria()

    active.fit_threshold = 10
    with pytest.raises(ValidationError, match="published"):
        active.save()
    with pytest.raises(ValidationError, match="published"):
        scoring_rule(active, "Sneaky rule", 50, field="country", operator="is_set")
    with pytest.raises(ValidationError, match="published"):
        active.scoring_rules.first().delete()

    assert CriteriaSet.objects.get(pk=active.pk).fit_threshold == 40


def test_copy_to_draft_takes_the_rules_and_checklist_to_the_next_version():
    active = industrial_criteria()

    draft = services.copy_to_draft(criteria_set=active)

    assert (draft.version, draft.status) == (2, CriteriaSet.Status.DRAFT)
    assert list(draft.scoring_rules.values_list("label", "points")) == list(
        active.scoring_rules.values_list("label", "points")
    )
    assert draft.checklist_items.count() == active.checklist_items.count()
    draft.fit_threshold = 50
    draft.save()  # drafts are editable


def test_publishing_a_draft_retires_the_previous_version():
    active = industrial_criteria()
    draft = services.copy_to_draft(criteria_set=active)

    published = services.publish(criteria_set=draft)

    active.refresh_from_db()
    assert published.status == CriteriaSet.Status.ACTIVE
    assert published.published_at is not None
    assert active.status == CriteriaSet.Status.RETIRED
    assert CriteriaSet.objects.filter(status="active").count() == 1


def test_it_refuses_to_publish_a_set_requiring_sql_checks_without_a_checklist():
    active = industrial_criteria()
    draft = services.copy_to_draft(criteria_set=active)
    ChecklistItem.objects.filter(criteria_set=draft).delete()

    with pytest.raises(services.CriteriaError) as info:
        services.publish(criteria_set=draft)

    assert "no checklist items" in info.value.message
    active.refresh_from_db()
    assert active.status == CriteriaSet.Status.ACTIVE


def test_a_rule_needs_a_label_and_a_well_formed_value():
    draft = services.copy_to_draft(criteria_set=industrial_criteria())

    unlabeled = ScoringRule(
        criteria_set=draft, kind="fit", label=" ", points=5, field="country", operator="is_set"
    )
    bad_range = ScoringRule(
        criteria_set=draft,
        kind="fit",
        label="Size",
        points=5,
        field="employee_count",
        operator="range",
        value=[500, 50],
    )

    with pytest.raises(ValidationError) as no_label:
        unlabeled.full_clean()
    with pytest.raises(ValidationError) as wrong_range:
        bad_range.full_clean()
    assert "label" in no_label.value.message_dict
    assert "above its maximum" in str(wrong_range.value)


def test_negative_thresholds_are_refused_with_a_readable_error():
    draft = services.copy_to_draft(criteria_set=industrial_criteria())
    draft.fit_threshold = -1

    with pytest.raises(ValidationError) as info:
        draft.full_clean()

    assert info.value.message_dict["fit_threshold"] == ["The fit threshold cannot be negative."]


def test_the_impact_preview_compares_the_draft_with_the_active_version(manager):
    active = industrial_criteria()
    strong = lead_services.ingest_lead(
        payload={
            "email": "a@works.example",
            "industry": "Machinery",
            "employee_count": 900,
            "country": "DE",
            "role_category": "engineering",
            "source": "webinar",
            "product_line": "components",
        },
        at=NOW - dt.timedelta(days=5),
    ).lead
    weaker = lead_services.ingest_lead(
        payload={
            "email": "b@shop.example",
            "industry": "Retail",
            "employee_count": 900,
            "country": "DE",
            "role_category": "engineering",
            "source": "webinar",
            "product_line": "components",
        },
        at=NOW - dt.timedelta(days=5),
    ).lead
    for lead in (strong, weaker):
        for kind in ("pricing_page_view", "webinar_attended"):
            lead_services.record_event(lead=lead, kind=kind, occurred_at=NOW, now=NOW)
    strong.refresh_from_db()
    assert strong.stage == Stage.MQL  # fit 50; the weaker lead has fit 30
    lead_services.accept(lead=strong, by=manager)
    draft = services.copy_to_draft(criteria_set=active)
    CriteriaSet.objects.filter(pk=draft.pk).update(fit_threshold=30)
    draft.refresh_from_db()

    preview = impact_preview(draft, now=NOW)

    assert preview.leads == 2
    assert (preview.mql_under_active, preview.mql_under_draft) == (1, 2)
    assert (preview.accepted_under_active, preview.accepted_under_draft) == (1, 1)
    assert (preview.sql_under_active, preview.sql_under_draft) == (0, 0)


def test_unknown_must_haves_are_the_missing_details(rep):
    criteria = industrial_criteria()
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)

    assert missing_details(lead) == ["Budget owner identified"]

    item = criteria.checklist_items.get()
    lead_services.answer_checklist(lead=lead, by=rep, item=item, answer="not_met")
    assert missing_details(lead) == []
