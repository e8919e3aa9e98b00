"""The public inquiry form (/inquiry/) and its RFQ variant: no login, the product line's
qualification questions, the same intake services as the API, and spam guards."""

import uuid

import pytest
from django.core.cache import cache

from leads import inquiry
from leads.models import EngagementEvent, Lead
from leads.stages import Stage
from qualification.models import ChecklistItem
from tests.factories import TeamFactory, industrial_criteria

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    # the test client's address is always 127.0.0.1; its count lives in Redis
    cache.delete(inquiry.rate_key("127.0.0.1"))
    yield
    cache.delete(inquiry.rate_key("127.0.0.1"))


@pytest.fixture
def criteria():
    criteria = industrial_criteria()
    ChecklistItem.objects.filter(criteria_set=criteria).update(
        question="Application and load", help_text="What the part does, loads, temperatures."
    )
    return criteria


def form(**changes):
    data = {
        "product_line": "components",
        "first_name": "Ada",
        "last_name": "Byron",
        "email": "Ada@Plant-Works.example",
        "company": "Plant Works",
        "title": "Plant engineer",
        "role_category": "engineering",
        "country": "de",
        "phone": "",
        "message": "We need bearings for a new press line.",
        "token": str(uuid.uuid4()),
        "utm_campaign": "spring-fair",
        "homepage": "",
    }
    return {**data, **changes}


def test_anyone_can_open_the_form_and_it_asks_the_lines_questions(client, criteria):
    response = client.get("/inquiry/?product_line=components&utm_campaign=spring-fair")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Application and load" in page and "What the part does" in page
    assert 'value="spring-fair"' in page
    assert "X-Frame-Options" not in response  # marketing may embed it


def test_with_several_lines_it_first_asks_which_product(client, criteria):
    from tests.factories import CriteriaSetFactory

    CriteriaSetFactory()  # a second active line

    page = client.get("/inquiry/").content.decode()

    assert "Which product is it about?" in page
    assert 'value="components"' in page


def test_an_inquiry_creates_the_lead_and_a_form_event_through_the_services(client, criteria):
    item = criteria.checklist_items.get()
    answers = {f"question_{item.pk}": "Press line bearings, 40 kN, up to 120 °C"}

    response = client.post("/inquiry/", form(**answers), REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 302 and response["Location"] == "/inquiry/thanks/"
    lead = Lead.objects.get()
    assert lead.email == "ada@plant-works.example"
    assert (lead.source, lead.product_line.code, lead.utm_campaign) == (
        "inbound_form",
        "components",
        "spring-fair",
    )
    assert lead.account.name == "Plant Works" and lead.country == "DE"
    assert lead.stage == Stage.ENGAGED  # the first event engaged it, as record_event does
    event = EngagementEvent.objects.get()
    assert event.kind == "form_submitted"
    assert event.metadata["answers"] == [
        {
            "item": item.pk,
            "question": "Application and load",
            "answer": "Press line bearings, 40 kN, up to 120 °C",
        }
    ]
    assert event.metadata["message"] == "We need bearings for a new press line."
    assert client.get("/inquiry/thanks/").status_code == 200


def test_a_resent_form_records_one_event(client, criteria):
    data = form()

    client.post("/inquiry/", data)
    client.post("/inquiry/", data)

    assert EngagementEvent.objects.count() == 1 and Lead.objects.count() == 1


def test_an_rfq_is_an_rfq_event_and_takes_the_fast_lane(client, criteria, rep):
    TeamFactory(reps=[rep], is_default=True)

    response = client.post(
        "/inquiry/rfq/",
        form(specification="200 x 6204-2RS", quantity="200", needed_by="2027-01-15"),
    )

    assert response.status_code == 302
    lead = Lead.objects.get()
    assert lead.source == "rfq"
    assert (lead.stage, lead.priority, lead.owner) == (Stage.MQL, "hot", rep)
    event = EngagementEvent.objects.get()
    assert event.kind == "rfq_submitted"
    assert event.metadata["specification"] == "200 x 6204-2RS"
    assert event.metadata["quantity"] == 200


def test_the_rfq_form_asks_for_the_request(client, criteria):
    page = client.get("/inquiry/rfq/").content.decode()

    assert "Request a quote" in page and "What do you need quoted?" in page


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"country": "Germany"}, "country"),
        ({"token": "forged"}, "token"),
    ],
)
def test_a_bad_form_is_shown_again_with_the_error_and_stores_nothing(
    client, criteria, changes, field
):
    response = client.post("/inquiry/", form(**changes))

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not Lead.objects.exists()


def test_a_filled_honeypot_looks_like_success_and_stores_nothing(client, criteria):
    response = client.post("/inquiry/", form(homepage="http://spam.example"))

    assert response.status_code == 302
    assert not Lead.objects.exists()


def test_one_address_is_limited_per_hour(client, criteria, monkeypatch):
    monkeypatch.setattr(inquiry, "RATE_LIMIT", 2)

    answers = [client.post("/inquiry/", form()).status_code for _ in range(3)]

    assert answers == [302, 302, 429]
    assert Lead.objects.count() == 1  # the same person twice; the third was refused
    assert client.post("/inquiry/", form(), REMOTE_ADDR="10.0.0.7").status_code == 302
    cache.delete(inquiry.rate_key("10.0.0.7"))
