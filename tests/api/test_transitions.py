"""POST /leads/{id}/transitions/{name}/, /touches/ and PUT /checklist/{item}/: the same
services, rules and audit rows as the lead page."""

import datetime as dt

import pytest
from django.utils import timezone

from leads.models import Lead, StageChange, Touch
from leads.stages import Stage
from qualification.models import ChecklistAnswer, Reason
from tests.api.conftest import client_for
from tests.factories import LeadFactory, active_criteria_with_checklist

pytestmark = pytest.mark.django_db

NEXT_WEEK = (timezone.localdate() + dt.timedelta(days=7)).isoformat()


@pytest.fixture
def criteria():
    return active_criteria_with_checklist(("Budget owner identified", True))


def post(user, lead, name, body=None):
    return client_for(user).post(
        f"/api/v1/leads/{lead.pk}/transitions/{name}/", body or {}, format="json"
    )


def audit(change: StageChange) -> dict:
    """What the audit row says, without which lead and when."""
    return {
        "from_stage": change.from_stage,
        "to_stage": change.to_stage,
        "transition": change.transition,
        "actor": change.actor_id,
        "reason": change.reason_id,
        "note": change.note,
        "details": change.details,
        "fit_score": change.fit_score,
        "engagement_score": change.engagement_score,
        "criteria_set": change.criteria_set_id,
        "checklist": change.checklist_snapshot,
    }


def reason(code):
    return Reason.objects.get(code=code)


# (transition, starting stage, page form fields, API body)
CASES = [
    ("accept", Stage.MQL, {}, {}),
    (
        "reject",
        Stage.MQL,
        {"reject-reason": lambda: reason("misrouted").pk, "reject-note": "Wrong region"},
        {"reason": "misrouted", "note": "Wrong region"},
    ),
    (
        "nurture",
        Stage.ACCEPTED,
        {
            "nurture-reason": lambda: reason("no-budget-yet").pk,
            "nurture-follow_up_on": NEXT_WEEK,
            "nurture-note": "Budget in Q3",
        },
        {"reason": "no-budget-yet", "follow_up_on": NEXT_WEEK, "note": "Budget in Q3"},
    ),
    (
        "qualify_sql",
        Stage.ACCEPTED,
        {"qualify_sql-next_step": "Workshop on Tuesday"},
        {"next_step": "Workshop on Tuesday"},
    ),
]


@pytest.mark.parametrize(("name", "stage", "form", "body"), CASES)
def test_the_api_writes_the_same_audit_row_as_the_page(
    client, rep, criteria, name, stage, form, body
):
    by_page = LeadFactory(stage=stage, owner=rep, criteria_set=criteria)
    by_api = LeadFactory(stage=stage, owner=rep, criteria_set=criteria)
    for lead in (by_page, by_api):
        ChecklistAnswer.objects.create(
            lead=lead,
            item=criteria.checklist_items.get(),
            answer="confirmed",
            answered_by=rep,
            answered_at=timezone.now(),
        )
    client.force_login(rep)
    fields = {key: value() if callable(value) else value for key, value in form.items()}

    page = client.post(f"/leads/{by_page.pk}/transitions/{name}/", {**fields, "seen_stage": stage})
    api = post(rep, by_api, name, {**body, "seen_stage": stage})

    assert page.status_code == 302
    assert api.status_code == 200, api.json()
    row_page = StageChange.objects.get(lead=by_page)
    row_api = StageChange.objects.get(lead=by_api)
    assert audit(row_api) == audit(row_page)
    assert api.json()["change"]["id"] == row_api.pk
    assert api.json()["lead"]["stage"] == Lead.objects.get(pk=by_api.pk).stage == row_api.to_stage


def test_a_guard_refusal_is_a_409_with_its_code_and_sentence(rep, criteria):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)

    response = post(rep, lead, "qualify_sql", {"next_step": "Workshop"})

    assert response.status_code == 409
    assert response.json() == {
        "errors": [
            {
                "field": None,
                "code": "checklist",
                "message": "Checklist item 'Budget owner identified' is not confirmed (unknown).",
            }
        ]
    }
    assert not StageChange.objects.filter(lead=lead).exists()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "reason_required", "reason"),
        ({"reason": "no-such-reason"}, "reason_unknown", "reason"),
        ({"reason": "no-budget-yet"}, "reason_kind", "reason"),
        ({"reason": "rejection-other"}, "note_required", "note"),
        ({"reason": "no-response-within-sla"}, "reason_system", "reason"),
    ],
)
def test_a_refused_reason_is_a_409_naming_the_field(rep, body, code, field):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    response = post(rep, lead, "reject", body)

    assert response.status_code == 409
    assert response.json()["errors"][0] | {"message": ""} == {
        "field": field,
        "code": code,
        "message": "",
    }


def test_a_visible_lead_the_role_may_not_change_is_403(rep):
    lead = LeadFactory(stage=Stage.REJECTED, owner=rep)  # rejected by the rep, visible to them

    response = post(rep, lead, "recycle")

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission"
    assert response.json()["errors"][0]["message"] == "Only marketing ops can do this."


def test_another_reps_lead_is_404_and_untouched(rep, other_rep):
    lead = LeadFactory(stage=Stage.MQL, owner=other_rep)

    response = post(rep, lead, "accept")

    assert response.status_code == 404
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_a_transition_from_the_wrong_stage_is_409_not_allowed(rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    response = post(rep, lead, "accept")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "not_allowed"


def test_a_stale_view_is_409_and_changes_nothing(rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    response = post(rep, lead, "accept", {"seen_stage": "mql"})

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "stale"


def test_an_unknown_transition_is_404(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    assert post(rep, lead, "teleport").status_code == 404


def test_an_input_the_transition_does_not_take_is_refused(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    response = post(rep, lead, "accept", {"reason": "misrouted"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "reason"
    assert response.json()["errors"][0]["code"] == "not_taken"
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_marketing_recycles_a_rejected_lead(marketing, rep):
    lead = LeadFactory(stage=Stage.REJECTED, owner=rep)

    response = post(marketing, lead, "recycle", {"note": "Try again in spring"})

    assert response.status_code == 200
    assert response.json()["change"]["to_stage"] == "nurture"
    assert response.json()["change"]["actor"]["username"] == marketing.username


# --- touches ---------------------------------------------------------------------------------


def test_a_rep_logs_a_touch(rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)
    when = (timezone.now() - dt.timedelta(minutes=30)).isoformat()

    response = client_for(rep).post(
        f"/api/v1/leads/{lead.pk}/touches/",
        {"kind": "call", "outcome": "connected", "note": "Spoke to Ada", "occurred_at": when},
        format="json",
    )

    assert response.status_code == 201
    touch = Touch.objects.get(lead=lead)
    assert (touch.kind, touch.by, touch.note) == ("call", rep, "Spoke to Ada")
    assert response.json()["by"]["username"] == rep.username


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"kind": "pigeon", "outcome": "connected"}, ("kind", "invalid_choice")),
        ({"outcome": "connected"}, ("kind", "required")),
        ({"kind": "call", "outcome": "connected", "occurred_at": "2026-03-02T10:00"}, None),
    ],
)
def test_a_bad_touch_is_400(rep, body, expected):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    response = client_for(rep).post(f"/api/v1/leads/{lead.pk}/touches/", body, format="json")

    assert response.status_code == 400
    found = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert (expected or ("occurred_at", "naive")) in found


def test_marketing_sees_the_lead_but_may_not_log_a_touch(marketing, rep):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    response = client_for(marketing).post(
        f"/api/v1/leads/{lead.pk}/touches/", {"kind": "call", "outcome": "connected"}, format="json"
    )

    assert response.status_code == 403
    assert not Touch.objects.exists()


def test_a_touch_on_a_closed_lead_is_409(rep):
    lead = LeadFactory(stage=Stage.OPPORTUNITY, owner=rep)

    response = client_for(rep).post(
        f"/api/v1/leads/{lead.pk}/touches/", {"kind": "call", "outcome": "connected"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "closed"


# --- checklist -------------------------------------------------------------------------------


def put(user, lead, item_id, body):
    return client_for(user).put(
        f"/api/v1/leads/{lead.pk}/checklist/{item_id}/", body, format="json"
    )


def test_a_rep_answers_a_checklist_item(rep, criteria):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)
    item = criteria.checklist_items.get()

    response = put(rep, lead, item.pk, {"answer": "confirmed", "evidence": "CFO Jane, call 3 May"})

    assert response.status_code == 200
    assert response.json()["answer"] == "confirmed"
    assert response.json()["evidence"] == "CFO Jane, call 3 May"
    assert ChecklistAnswer.objects.get(lead=lead).answered_by == rep


def test_an_item_of_another_checklist_is_404(rep, criteria):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)
    elsewhere = active_criteria_with_checklist(("Other question", True)).checklist_items.get()

    assert put(rep, lead, elsewhere.pk, {"answer": "confirmed"}).status_code == 404
    assert put(rep, lead, 10**30, {"answer": "confirmed"}).status_code == 404


def test_a_bad_answer_is_400(rep, criteria):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)

    response = put(rep, lead, criteria.checklist_items.get().pk, {"answer": "maybe"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "answer"


def test_marketing_may_not_answer_the_checklist(marketing, rep, criteria):
    lead = LeadFactory(stage=Stage.ACCEPTED, owner=rep, criteria_set=criteria)

    response = put(marketing, lead, criteria.checklist_items.get().pk, {"answer": "confirmed"})

    assert response.status_code == 403
