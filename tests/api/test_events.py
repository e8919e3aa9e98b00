"""POST /api/v1/events/: one event or a batch; idempotent by external_id; every valid item
of a batch is stored whatever the others are."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from leads.api.serializers import EventSerializer
from leads.models import EngagementEvent, Lead
from leads.stages import Stage
from tests.api.conftest import client_for
from tests.factories import LeadFactory, industrial_criteria

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    return LeadFactory(
        email="ada@plant-works.example", stage=Stage.NEW, criteria_set=industrial_criteria()
    )


def an_hour_ago() -> str:
    return (timezone.now() - dt.timedelta(hours=1)).isoformat()


def event(for_lead, **changes):
    return {"lead": for_lead.pk, "kind": "page_view", "occurred_at": an_hour_ago(), **changes}


def test_one_event_is_created_then_reported_as_a_duplicate(lead, integration):
    api = client_for(integration)
    body = event(lead, kind="content_download", external_id="mkto-1", content_tag="catalogue")

    first = api.post("/api/v1/events/", body, format="json")
    again = api.post("/api/v1/events/", body, format="json")

    assert first.status_code == 201
    assert first.json()["status"] == "created" and first.json()["lead"] == lead.pk
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["event"] == first.json()["event"]
    assert EngagementEvent.objects.count() == 1
    lead.refresh_from_db()
    assert lead.stage == Stage.ENGAGED  # the service's lifecycle followed


def test_an_event_finds_its_lead_by_email_in_any_spelling(lead, marketing):
    body = {"email": " ADA@Plant-Works.example", "kind": "webinar_attended"}

    response = client_for(marketing).post(
        "/api/v1/events/", {**body, "occurred_at": an_hour_ago()}, format="json"
    )

    assert response.status_code == 201
    assert EngagementEvent.objects.get().lead == lead


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"kind": "telepathy"}, ("kind", "invalid_choice")),
        ({"occurred_at": "2026-03-02T10:00:00"}, ("occurred_at", "naive")),
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, ("occurred_at", "overflow")),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, ("occurred_at", "in_future")),
        ({"occurred_at": None}, ("occurred_at", "null")),
        ({"lead": 0}, ("lead", "min_value")),
        ({"lead": 123456789}, ("lead", "lead_not_found")),
        ({"email": "ada@plant-works.example"}, ("lead", "required")),  # both given
        ({"metadata": [1, 2]}, ("metadata", "invalid")),
        ({"metadata": {"x": "y" * 20000}}, ("metadata", "too_large")),
        ({"url": "u" * 501}, ("url", "max_length")),
        ({"colour": "red"}, ("colour", "unknown_field")),
    ],
)
def test_a_bad_single_event_is_a_400_naming_the_field(lead, marketing, changes, expected):
    response = client_for(marketing).post("/api/v1/events/", event(lead, **changes), format="json")

    assert response.status_code == 400
    assert expected in {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert EngagementEvent.objects.count() == 0


def test_a_mixed_batch_stores_every_valid_item_and_answers_per_item(lead, marketing):
    EngagementEvent.objects.create(
        lead=lead, kind="page_view", occurred_at=timezone.now(), external_id="seen-before"
    )
    batch = [
        event(lead, external_id="a"),  # 0 created
        event(lead, kind="no-such-kind"),  # 1 rejected
        event(lead, external_id="seen-before"),  # 2 duplicate of an earlier request
        "not an object",  # 3 rejected
        event(lead, external_id="a"),  # 4 duplicate within the batch
        {"email": "nobody@nowhere.example", "kind": "page_view", "occurred_at": an_hour_ago()},
        event(lead, kind="pricing_page_view", occurred_at="2026-03-02 10:00"),  # 6 naive
        event(lead, kind="pricing_page_view"),  # 7 created, no external id
    ]

    response = client_for(marketing).post("/api/v1/events/", batch, format="json")

    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "created",
        "rejected",
        "duplicate",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
        "created",
    ]
    assert (body["created"], body["duplicate"], body["rejected"]) == (2, 2, 4)
    assert [r["index"] for r in body["results"]] == list(range(8))
    assert body["results"][1]["errors"][0]["field"] == "kind"
    assert body["results"][3]["errors"][0]["code"] == "invalid"
    assert body["results"][5]["errors"][0]["code"] == "lead_not_found"
    assert body["results"][6]["errors"][0]["code"] == "naive"
    assert body["results"][4]["event"] == body["results"][0]["event"]
    assert EngagementEvent.objects.filter(lead=lead).count() == 3
    assert set(EngagementEvent.objects.values_list("kind", flat=True)) == {
        "page_view",
        "pricing_page_view",
    }


def test_a_batch_of_1000_is_taken_and_1001_is_refused(lead, marketing):
    api = client_for(marketing)
    too_many = [event(lead, external_id=f"e{i}") for i in range(1001)]
    # known already, so the batch is read and answered without scoring 1,000 events
    # (storing and scoring are the mixed batch's test)
    EngagementEvent.objects.bulk_create(
        EngagementEvent(
            lead=lead, kind="page_view", occurred_at=timezone.now(), external_id=f"e{i}"
        )
        for i in range(1000)
    )

    refused = api.post("/api/v1/events/", too_many, format="json")
    taken = api.post("/api/v1/events/", too_many[:1000], format="json")

    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "too_many"
    assert taken.status_code == 200
    assert taken.json()["duplicate"] == 1000
    assert EngagementEvent.objects.count() == 1000


def test_an_empty_batch_is_refused(marketing):
    response = client_for(marketing).post("/api/v1/events/", [], format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "empty"


def test_an_event_for_a_closed_lead_is_stored_without_moving_it(marketing):
    closed = LeadFactory(stage=Stage.DISQUALIFIED)

    response = client_for(marketing).post("/api/v1/events/", event(closed), format="json")

    assert response.status_code == 201
    assert Lead.objects.get(pk=closed.pk).stage == Stage.DISQUALIFIED


def test_an_rfq_through_the_api_takes_the_fast_lane(lead, integration):
    Lead.objects.filter(pk=lead.pk).update(fit_score=0, engagement_score=0)

    response = client_for(integration).post(
        "/api/v1/events/", event(lead, kind="rfq_submitted"), format="json"
    )

    assert response.status_code == 201
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL and lead.priority == "hot"


@pytest.mark.parametrize("persona", ["rep", "manager"])
def test_sales_may_not_push_events(request, lead, persona):
    response = client_for(request.getfixturevalue(persona)).post(
        "/api/v1/events/", event(lead), format="json"
    )

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert "leads.add_engagementevent" in response.json()["errors"][0]["message"]


def test_a_batch_with_nothing_valid_is_a_400_naming_each_item(lead, marketing):
    batch = [event(lead, kind="telepathy"), event(lead, occurred_at="2026-03-02T10:00")]

    response = client_for(marketing).post("/api/v1/events/", batch, format="json")

    assert response.status_code == 400
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("0.kind", "invalid_choice"),
        ("1.occurred_at", "naive"),
    }
    assert not EngagementEvent.objects.exists()


def _full_validation(item):
    try:
        return dict(EventSerializer().run_validation(item))
    except ValidationError:
        return "refused"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"occurred_at": "2026-03-02T09:00:00Z"},
        {"occurred_at": "2026-03-02T10:00:00.123+01:00"},
        {"occurred_at": "2026-03-02T10:00:00-05:30"},
        {"external_id": "  crm-42  ", "url": "https://www.example.com/x", "content_tag": "seals"},
        {"external_id": None, "url": None, "content_tag": None},
        {"external_id": "", "url": "   ", "content_tag": ""},
        {"url": "u" * 500, "external_id": "e" * 200, "content_tag": "c" * 80},
        {"lead": 2**63 - 1},
    ],
)
def test_a_batch_item_in_the_usual_shape_is_taken_as_the_full_validation_takes_it(changes):
    item = {"lead": 7, "kind": "page_view", "occurred_at": an_hour_ago(), **changes}

    plain = EventSerializer().plain_value(item)

    assert plain is not None
    assert plain == _full_validation(item)
    assert plain["occurred_at"].utcoffset() == _full_validation(item)["occurred_at"].utcoffset()


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "telepathy"},
        {"kind": ["page_view"]},
        {"lead": 0},
        {"lead": 2**63},
        {"lead": True},
        {"lead": "7"},
        {"occurred_at": "2026-03-02T10:00"},
        {"occurred_at": " 2026-03-02T10:00:00Z"},
        {"occurred_at": "2026-02-30T10:00:00Z"},
        {"occurred_at": "yesterday"},
        {"occurred_at": (timezone.now() + dt.timedelta(hours=1)).isoformat()},
        {"url": "u" * 501},
        {"content_tag": 42},
        {"external_id": "a\x00b"},
        {"metadata": {"campaign": "spring"}},
        {"email": "ada@plant-works.example"},
        {"colour": "blue"},
    ],
)
def test_any_other_batch_item_goes_through_the_full_validation(changes):
    item = {"lead": 7, "kind": "page_view", "occurred_at": an_hour_ago(), **changes}

    assert EventSerializer().plain_value(item) is None
