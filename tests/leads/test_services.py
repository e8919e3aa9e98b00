import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from leads import services
from leads.models import Lead, StageChange
from leads.services import LeadActionRefused
from leads.stages import Stage
from qualification.models import ChecklistAnswer, Reason
from qualification.selectors import checklist_state
from tests.factories import (
    CriteriaSetFactory,
    LeadFactory,
    UserFactory,
    active_criteria_with_checklist,
)
from tests.leads.test_models import ALL_STAGES, DIAGRAM

pytestmark = pytest.mark.django_db


def refused(call, **kwargs) -> LeadActionRefused:
    with pytest.raises(LeadActionRefused) as info:
        call(**kwargs)
    return info.value


def assert_unchanged(lead: Lead) -> None:
    stored = Lead.objects.get(pk=lead.pk)
    assert stored.stage == lead.stage
    assert not StageChange.objects.filter(lead=lead).exists()


def tomorrow() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=1)


# --- the happy paths write one audit row each ------------------------------------------


def test_it_accepts_an_mql_for_its_owner_and_records_who_and_when(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep, fit_score=55, engagement_score=35)

    change = services.accept(lead=lead, by=rep)

    lead.refresh_from_db()
    assert lead.stage == Stage.ACCEPTED
    assert change.from_stage == Stage.MQL
    assert change.to_stage == Stage.ACCEPTED
    assert change.transition == "accept"
    assert change.actor == rep
    assert (change.fit_score, change.engagement_score) == (55, 35)
    assert change.criteria_set == lead.criteria_set
    assert lead.stage_entered_at == change.at
    assert StageChange.objects.filter(lead=lead).count() == 1


def test_it_rejects_with_the_reason_and_note_in_the_audit_row(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    change = services.reject(
        lead=lead, by=rep, reason="not-mql-definition", note="Only wants a spare part"
    )

    assert change.reason.code == "not-mql-definition"
    assert change.note == "Only wants a spare part"
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED


def test_a_sales_manager_can_act_on_any_reps_lead(rep, manager):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    services.accept(lead=lead, by=manager)

    assert Lead.objects.get(pk=lead.pk).stage == Stage.ACCEPTED


# --- every "no" needs a proper reason ----------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "note", "code"),
    [
        (None, "", "reason_required"),
        ("", "", "reason_required"),
        ("no-such-reason", "", "reason_unknown"),
        ("no-budget-yet", "", "reason_kind"),  # a nurture reason
        ("rejection-other", "", "note_required"),
        ("rejection-other", "   ", "note_required"),
        ("no-response-within-sla", "", "reason_system"),
    ],
)
def test_it_refuses_a_rejection_without_a_proper_reason(rep, reason, note, code):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    error = refused(services.reject, lead=lead, by=rep, reason=reason, note=note)

    assert error.code == code
    assert error.message
    assert_unchanged(lead)


def test_it_refuses_an_inactive_reason(rep):
    Reason.objects.filter(code="duplicate").update(active=False)
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    error = refused(services.reject, lead=lead, by=rep, reason="duplicate")

    assert error.code == "reason_inactive"
    assert "Duplicate" in error.message
    assert_unchanged(lead)


def test_it_refuses_nurture_without_a_follow_up_date_or_with_a_past_one(rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    missing = refused(
        services.nurture, lead=lead, by=rep, reason="no-budget-yet", follow_up_on=None
    )
    past = refused(
        services.nurture,
        lead=lead,
        by=rep,
        reason="no-budget-yet",
        follow_up_on=timezone.localdate(),
    )

    assert (missing.code, missing.field) == ("follow_up_required", "follow_up_on")
    assert past.code == "follow_up_in_past"
    assert_unchanged(lead)


def test_it_nurtures_with_a_reason_and_follow_up_date(rep):
    lead = LeadFactory(stage=Stage.SQL, owner=rep)

    change = services.nurture(
        lead=lead, by=rep, reason="timing-beyond-window", follow_up_on=tomorrow()
    )

    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE
    assert lead.follow_up_on == tomorrow()
    assert change.details["follow_up_on"] == tomorrow().isoformat()


def test_it_refuses_disqualify_with_a_rejection_reason(rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    error = refused(services.disqualify, lead=lead, by=rep, reason="duplicate")

    assert error.code == "reason_kind"
    assert_unchanged(lead)


# --- who may act -----------------------------------------------------------------------


def test_a_rep_cannot_act_on_another_reps_lead(rep, other_rep):
    lead = LeadFactory(stage=Stage.MQL, owner=other_rep)

    error = refused(services.accept, lead=lead, by=rep)

    assert error.code == "permission"
    assert "owner" in error.message
    assert_unchanged(lead)


def test_a_rep_cannot_recycle_or_dispute(rep):
    lead = LeadFactory(stage=Stage.REJECTED, owner=rep)

    assert refused(services.recycle, lead=lead, by=rep).code == "permission"
    assert refused(services.dispute, lead=lead, by=rep, note="x").code == "permission"
    assert_unchanged(lead)


def test_it_offers_only_the_transitions_that_would_succeed(rep, other_rep, marketing):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    # before contact a rep's "no" is a rejection, never a disqualification
    assert set(services.available_transitions(lead, rep)) == {"accept", "reject"}
    assert services.available_transitions(lead, other_rep) == []
    # marketing may pull a spam MQL, but accepting is sales' call
    assert services.available_transitions(lead, marketing) == ["disqualify"]


# --- the guards speak ------------------------------------------------------------------


def test_qualify_sql_names_the_unconfirmed_must_have_checklist_item(rep):
    criteria = active_criteria_with_checklist(
        ("Budget owner identified", True), ("Nice to know", False)
    )
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)
    budget = criteria.checklist_items.get(question="Budget owner identified")

    error = refused(services.qualify_sql, lead=lead, by=rep, next_step="Site visit on Tuesday")

    assert error.code == "checklist"
    assert error.message == "Checklist item 'Budget owner identified' is not confirmed (unknown)."
    assert_unchanged(lead)

    services.answer_checklist(lead=lead, by=rep, item=budget, answer="confirmed", evidence="CFO")
    change = services.qualify_sql(lead=lead, by=rep, next_step="Site visit on Tuesday")

    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    assert lead.next_step == "Site visit on Tuesday"
    snapshot = {row["question"]: row["answer"] for row in change.checklist_snapshot}
    assert snapshot == {"Budget owner identified": "confirmed", "Nice to know": "unknown"}


def test_the_latest_checklist_answer_counts_and_history_stays(rep):
    criteria = active_criteria_with_checklist(("Timeline under 6 months", True))
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)
    item = criteria.checklist_items.get()
    services.answer_checklist(lead=lead, by=rep, item=item, answer="confirmed")
    services.answer_checklist(lead=lead, by=rep, item=item, answer="not_met", evidence="Q3 2028")

    error = refused(services.qualify_sql, lead=lead, by=rep, next_step="Call back")

    assert error.message == "Checklist item 'Timeline under 6 months' is not confirmed (not met)."
    assert ChecklistAnswer.objects.filter(lead=lead, item=item).count() == 2


def test_the_same_lead_shows_an_answer_at_once_in_its_checklist_and_its_actions(rep):
    criteria = active_criteria_with_checklist(("Budget owner identified", True))
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)
    item = criteria.checklist_items.get()
    assert "qualify_sql" in dict(services.blocked_transitions(lead, rep))  # read once

    services.answer_checklist(lead=lead, by=rep, item=item, answer="confirmed")

    assert [row.answer for row in checklist_state(lead)] == ["confirmed"]
    assert "qualify_sql" not in dict(services.blocked_transitions(lead, rep))
    assert "qualify_sql" in services.available_transitions(lead, rep)


def test_qualify_sql_needs_a_next_step(rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    error = refused(services.qualify_sql, lead=lead, by=rep, next_step="  ")

    assert (error.code, error.field) == ("next_step_required", "next_step")
    assert_unchanged(lead)


def test_qualify_mql_explains_which_threshold_is_not_met():
    lead = LeadFactory(stage=Stage.ENGAGED, fit_score=32, engagement_score=50)

    error = refused(services.qualify_mql, lead=lead)

    assert error.code == "mql_definition"
    assert error.message == "Not an MQL yet: fit score 32 is below the threshold of 40."
    assert_unchanged(lead)


def test_qualify_mql_requires_the_handoff_fields():
    criteria = CriteriaSetFactory(required_fields=["phone", "title", "country"])
    lead = LeadFactory(stage=Stage.ENGAGED, phone="", title="", criteria_set=criteria)

    error = refused(services.qualify_mql, lead=lead)

    assert error.message == "Not an MQL yet: missing at handoff: Phone, Job title."


def test_a_lead_meeting_both_thresholds_becomes_an_mql_by_the_system():
    lead = LeadFactory(stage=Stage.ENGAGED, fit_score=40, engagement_score=30)

    change = services.qualify_mql(lead=lead)

    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert lead.mql_cycle == 1
    assert change.actor is None


def test_a_fast_lane_lead_becomes_a_hot_mql_below_the_thresholds():
    lead = LeadFactory(
        stage=Stage.NEW, fit_score=0, engagement_score=0, fast_lane_reason="RFQ submitted"
    )

    change = services.qualify_mql(lead=lead)

    lead.refresh_from_db()
    assert (lead.stage, lead.priority) == (Stage.MQL, Lead.Priority.HOT)
    assert change.details == {"fast_lane": "RFQ submitted"}


def test_a_lead_without_criteria_cannot_become_an_mql():
    lead = LeadFactory(stage=Stage.ENGAGED, criteria_set=None, product_line=None)

    error = refused(services.qualify_mql, lead=lead)

    assert "no active qualification criteria" in error.message


# --- marketing's side of a rejection -----------------------------------------------------


def test_marketing_disputes_a_rejection_once_per_mql_cycle(rep, marketing, manager):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    services.reject(lead=lead, by=rep, reason="misrouted")
    lead.refresh_from_db()

    assert refused(services.dispute, lead=lead, by=marketing, note="").code == "note_required"

    change = services.dispute(
        lead=lead, by=marketing, note="Territory is right, see CRM", owner=manager
    )
    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.MQL, manager)
    assert change.note == "Territory is right, see CRM"

    services.reject(lead=lead, by=manager, reason="misrouted")
    lead.refresh_from_db()
    again = refused(services.dispute, lead=lead, by=marketing, note="Still right")
    assert again.code == "already_disputed"
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED


def test_recycling_past_the_limit_disqualifies_the_lead(marketing):
    lead = LeadFactory(
        stage=Stage.REJECTED, recycle_count=1, criteria_set=CriteriaSetFactory(recycle_limit=2)
    )

    first = services.recycle(lead=lead, by=marketing)
    assert first.to_stage == Stage.NURTURE
    assert Lead.objects.get(pk=lead.pk).recycle_count == 2

    lead = LeadFactory(stage=Stage.REJECTED, recycle_count=2, criteria_set=lead.criteria_set)
    second = services.recycle(lead=lead, by=marketing)

    assert second.to_stage == Stage.DISQUALIFIED
    assert second.reason.code == "recycle-limit-reached"
    assert "recycled 2 times" in second.note


# --- forbidden moves write nothing --------------------------------------------------------

VALID_INPUT = {
    "reject": {"reason": "duplicate"},
    "nurture": {"reason": "no-budget-yet", "follow_up_on": "tomorrow"},
    "qualify_sql": {"next_step": "Demo"},
    "dispute": {"note": "Please look again"},
    "disqualify": {"reason": "spam"},
}
FORBIDDEN = [
    (stage, name) for name in DIAGRAM for stage in ALL_STAGES if stage not in DIAGRAM[name]
]


@pytest.mark.parametrize(("stage", "name"), FORBIDDEN)
def test_every_move_outside_the_diagram_is_refused_and_writes_nothing(stage, name):
    admin = UserFactory(username="root", is_superuser=True)
    lead = LeadFactory(stage=stage, owner=admin)
    kwargs = dict(VALID_INPUT.get(name, {}))
    if kwargs.get("follow_up_on") == "tomorrow":
        kwargs["follow_up_on"] = tomorrow()
    by = {} if name in ("engage", "qualify_mql") else {"by": admin}

    error = refused(services.TRANSITIONS[name], lead=lead, **by, **kwargs)

    assert error.code == "not_allowed"
    assert_unchanged(lead)


def test_it_reports_a_stale_view_instead_of_overwriting(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    seen_by_rep = Lead.objects.get(pk=lead.pk)
    services.accept(lead=lead, by=rep)

    error = refused(services.reject, lead=seen_by_rep, by=rep, reason="duplicate")

    assert error.code == "stale"
    assert "Reload" in error.message
    assert Lead.objects.get(pk=lead.pk).stage == Stage.ACCEPTED
    assert StageChange.objects.filter(lead=lead).count() == 1


# --- the audit trail and deletion ------------------------------------------------------


def test_the_audit_trail_cannot_be_changed_or_deleted(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    change = services.accept(lead=lead, by=rep)

    change.note = "rewritten"
    with pytest.raises(ValidationError):
        change.save()
    with pytest.raises(ValidationError):
        change.delete()
    with pytest.raises(ValidationError):
        StageChange.objects.filter(pk=change.pk).update(note="rewritten")
    with pytest.raises(ValidationError):
        StageChange.objects.filter(pk=change.pk).delete()
    # not even raw SQL
    with (
        pytest.raises(Exception, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE leads_stagechange SET note = 'x' WHERE id = %s", [change.pk])

    assert StageChange.objects.get(pk=change.pk).note == ""


def test_a_lead_with_history_cannot_be_deleted_only_archived(rep, marketing):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    services.accept(lead=lead, by=rep)

    with pytest.raises(ValidationError):
        lead.delete()
    with pytest.raises(ProtectedError):
        Lead.objects.filter(pk=lead.pk).delete()

    services.archive(lead=lead, by=marketing)
    assert Lead.objects.get(pk=lead.pk).archived_at is not None


def test_an_email_is_unique_among_open_leads_only():
    first = LeadFactory(email="buyer@plant.example", stage=Stage.MQL)

    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(email="buyer@plant.example", stage=Stage.NEW)

    Lead.objects.filter(pk=first.pk).update(stage=Stage.DISQUALIFIED)
    second = LeadFactory(email="buyer@plant.example", stage=Stage.NEW)
    assert second.pk != first.pk


def test_a_rep_logs_a_touch_on_own_lead_only(rep, other_rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    touch = services.log_touch(lead=lead, by=rep, kind="call", outcome="connected", note="Hi")

    assert touch.lead == lead
    error = refused(services.log_touch, lead=lead, by=other_rep, kind="call", outcome="connected")
    assert error.code == "permission"
