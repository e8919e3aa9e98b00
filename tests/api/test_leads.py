"""POST and GET /api/v1/leads/: upsert by normalised e-mail, filtered lists with cursor
pagination, and the lead with its explanation, checklist, clocks and history."""

import datetime as dt

import pytest
from django.utils import timezone

from leads import services
from leads.models import Account, Lead
from leads.stages import Stage
from qualification.models import ChecklistAnswer
from routing.models import SlaClock, Team, TeamMembership
from tests.api.conftest import client_for
from tests.factories import LeadFactory, SlaPolicyFactory, TeamFactory, industrial_criteria

pytestmark = pytest.mark.django_db

ADA = {
    "email": "Ada.Byron@Plant-Works.example",
    "first_name": "Ada",
    "last_name": "Byron",
    "company": "Plant Works",
    "website": "https://www.plant-works.example/en/",
    "industry": "Machinery",
    "employee_count": 800,
    "country": "de",
    "role_category": "engineering",
    "source": "inbound_form",
    "product_line": "components",
}


@pytest.fixture
def criteria():
    return industrial_criteria()


def errors(response):
    return {(e["field"], e["code"]) for e in response.json()["errors"]}


# --- upsert ----------------------------------------------------------------------------------


def test_it_creates_a_lead_then_updates_it(criteria, marketing):
    api = client_for(marketing)

    created = api.post("/api/v1/leads/", ADA, format="json")
    updated = api.post(
        "/api/v1/leads/", {"email": ADA["email"], "title": "Plant engineer"}, format="json"
    )

    assert created.status_code == 201 and created.json()["created"] is True
    assert updated.status_code == 200 and updated.json()["created"] is False
    assert created.json()["id"] == updated.json()["id"]
    lead = Lead.objects.get()
    assert lead.title == "Plant engineer" and lead.first_name == "Ada"
    assert lead.country == "DE" and lead.product_line.code == "components"
    assert updated.json()["account"]["domain"] == "plant-works.example"


@pytest.mark.parametrize(
    "spelling", ["ada.byron@plant-works.example", "  ADA.BYRON@Plant-Works.EXAMPLE  "]
)
def test_case_and_surrounding_spaces_find_the_same_lead(criteria, marketing, spelling):
    api = client_for(marketing)
    api.post("/api/v1/leads/", ADA, format="json")

    response = api.post("/api/v1/leads/", {"email": spelling, "phone": "+49 1"}, format="json")

    assert response.status_code == 200
    assert Lead.objects.get().phone == "+49 1"


def test_plus_addressing_is_a_lead_of_its_own(criteria, marketing):
    api = client_for(marketing)
    api.post("/api/v1/leads/", ADA, format="json")

    response = api.post(
        "/api/v1/leads/", {**ADA, "email": "ada.byron+rfq@plant-works.example"}, format="json"
    )

    assert response.status_code == 201
    assert Lead.objects.count() == 2
    assert Account.objects.count() == 1  # both matched to the company by domain


def test_an_empty_value_never_blanks_a_known_one(criteria, marketing):
    api = client_for(marketing)
    api.post("/api/v1/leads/", {**ADA, "phone": "+49 30 1"}, format="json")

    api.post("/api/v1/leads/", {"email": ADA["email"], "phone": "", "title": None}, format="json")

    assert Lead.objects.get().phone == "+49 30 1"


def test_a_push_only_integration_may_upsert(criteria, integration):
    response = client_for(integration).post("/api/v1/leads/", ADA, format="json")

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**ADA, "email": "not-an-address"}, ("email", "invalid")),
        ({**ADA, "email": ""}, ("email", "blank")),
        ({k: v for k, v in ADA.items() if k != "email"}, ("email", "required")),
        ({**ADA, "employee_count": "many"}, ("employee_count", "invalid")),
        ({**ADA, "employee_count": 2**40}, ("employee_count", "max_value")),
        ({**ADA, "source": "carrier-pigeon"}, ("source", "invalid_choice")),
        ({**ADA, "first_name": ["Ada"]}, ("first_name", "invalid")),
        ({**ADA, "first_name": "A" * 81}, ("first_name", "max_length")),
        ({**ADA, "country": "Germany"}, ("country", "invalid")),
        ({**ADA, "website": "not a domain"}, ("website", "invalid")),
        ({**ADA, "favourite_colour": "blue"}, ("favourite_colour", "unknown_field")),
        ({**ADA, "product_line": "no-such-line"}, ("product_line", "invalid_product_line")),
        ({**ADA, "email": "new@plant-works.example", "source": ""}, ("source", "source_required")),
        ({**ADA, "first_name": "Ada\u0000"}, ("first_name", "invalid_text")),
        (["a", "list"], (None, "invalid")),
    ],
)
def test_bad_input_is_a_400_naming_the_field(criteria, marketing, body, expected):
    response = client_for(marketing).post("/api/v1/leads/", body, format="json")

    assert response.status_code == 400
    assert expected in errors(response)
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b'{"email": "a@b.example"', "application/json", 400, "invalid_json"),
        ('{"email": "änne@b.example"}'.encode("latin-1"), "application/json", 400, "not_utf8"),
        (b'{"employee_count": NaN}', "application/json", 400, "invalid_json"),
        (b'{"email": "\\ud800@b.example"}', "application/json", 400, "invalid_text"),
        (b'{"email": "a\\u0000@b.example"}', "application/json", 400, "invalid_text"),
        # unescaped, a NUL is no JSON at all (the parser looks for text only behind \u)
        (b'{"email": "a\x00@b.example"}', "application/json", 400, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "invalid_json"),
        (b"email=a@b.example", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_unreadable_bodies_are_refused_in_the_error_shape(
    criteria, marketing, raw, content_type, status, code
):
    response = client_for(marketing).generic("POST", "/api/v1/leads/", raw, content_type)

    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code


def test_a_body_over_the_limit_is_413(criteria, marketing, settings):
    settings.API_MAX_BODY_BYTES = 1000
    body = {**ADA, "title": "x" * 2000}

    response = client_for(marketing).post("/api/v1/leads/", body, format="json")

    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {"field": None, "code": "too_large", "message": "The request body is too large."}
        ]
    }


# --- list ------------------------------------------------------------------------------------


def test_the_list_shows_only_what_the_user_may_see(rep, other_rep, manager, marketing):
    mine = LeadFactory(stage=Stage.MQL, owner=rep)
    theirs = LeadFactory(stage=Stage.MQL, owner=other_rep)
    team = Team.objects.create(name="East", manager=manager)
    TeamMembership.objects.create(team=team, user=rep)

    def ids(user):
        return {lead["id"] for lead in client_for(user).get("/api/v1/leads/").json()["results"]}

    assert ids(rep) == {mine.pk}
    assert ids(other_rep) == {theirs.pk}
    assert ids(manager) == {mine.pk}
    assert ids(marketing) == {mine.pk, theirs.pk}


def test_the_list_filters(marketing, rep, criteria):
    a = LeadFactory(stage=Stage.MQL, owner=rep, source="webinar", criteria_set=criteria)
    LeadFactory(stage=Stage.ENGAGED, source="webinar")
    LeadFactory(stage=Stage.MQL, owner=rep, source="rfq")
    api = client_for(marketing)

    def ids(query):
        response = api.get("/api/v1/leads/", query)
        assert response.status_code == 200, response.json()
        return {lead["id"] for lead in response.json()["results"]}

    assert ids({"stage": "mql", "source": "webinar"}) == {a.pk}
    assert ids({"owner": rep.pk, "product_line": "components"}) == {a.pk}
    soon = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    assert ids({"updated_since": soon}) == set()
    assert len(ids({"updated_since": "2020-01-01T00:00:00Z"})) == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"stage": "hot"}, ("stage", "invalid_choice")),
        ({"updated_since": "2026-03-02T10:00:00"}, ("updated_since", "naive")),
        ({"updated_since": "yesterday"}, ("updated_since", "invalid")),
        ({"owner": "99999999999999999999999"}, ("owner", "max_value")),
        ({"stge": "mql"}, ("stge", "unknown_field")),
    ],
)
def test_a_bad_filter_is_a_400(marketing, query, expected):
    response = client_for(marketing).get("/api/v1/leads/", query)

    assert response.status_code == 400
    assert expected in errors(response)


def test_cursor_pagination_walks_every_lead_once_oldest_change_first(marketing):
    leads = [LeadFactory() for _ in range(7)]
    api = client_for(marketing)

    seen, url = [], "/api/v1/leads/?page_size=3"
    while url:
        page = api.get(url).json()
        seen += [lead["id"] for lead in page["results"]]
        url = page["next"]

    assert seen == [lead.pk for lead in leads]


def test_a_forged_cursor_is_a_404_in_the_error_shape(marketing):
    response = client_for(marketing).get("/api/v1/leads/", {"cursor": "bm9wZQ"})

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


@pytest.mark.parametrize("persona", ["rep", "manager", "marketing"])
def test_the_list_costs_the_same_queries_for_10_or_200_leads(
    request, persona, rep, manager, criteria, django_assert_max_num_queries
):
    user = request.getfixturevalue(persona)
    team = Team.objects.create(name="East", manager=manager)
    TeamMembership.objects.create(team=team, user=rep)
    policy = SlaPolicyFactory()
    account = LeadFactory().account
    api = client_for(user)
    for count in (10, 200):
        leads = LeadFactory.create_batch(
            count - Lead.objects.filter(owner=rep).count(),
            stage=Stage.MQL,
            owner=rep,
            criteria_set=criteria,
            account=account,
        )
        now = timezone.now()
        SlaClock.objects.bulk_create(
            SlaClock(
                lead=lead,
                kind="decision",
                policy=policy,
                owner=rep,
                target=dt.timedelta(hours=4),
                started_at=now,
                due_at=now + dt.timedelta(hours=4),
            )
            for lead in leads
        )
        with django_assert_max_num_queries(10):
            response = api.get("/api/v1/leads/", {"owner": rep.pk, "page_size": 200})
        assert len(response.json()["results"]) == count
        assert response.json()["results"][0]["running_clocks"][0]["kind"] == "decision"


# --- detail ---------------------------------------------------------------------------------


def test_the_lead_explains_its_score_checklist_clocks_and_history(rep, criteria):
    SlaPolicyFactory()
    TeamFactory(reps=[rep], is_default=True)
    lead = services.qualify_mql(lead=LeadFactory(stage=Stage.ENGAGED, criteria_set=criteria)).lead
    assert lead.owner == rep
    services.accept(lead=lead, by=rep)

    body = client_for(rep).get(f"/api/v1/leads/{lead.pk}/").json()

    assert body["stage"] == "accepted"
    assert {"label": "Served region", "points": 10, "kind": "fit"} in body["score"]["lines"]
    assert body["checklist"] == [
        {
            "item": criteria.checklist_items.get().pk,
            "dimension": "budget",
            "question": "Budget owner identified",
            "help_text": "",
            "must_have": True,
            "answer": ChecklistAnswer.Answer.UNKNOWN,
            "evidence": "",
        }
    ]
    assert [(h["transition"], h["to_stage"]) for h in body["history"]] == [
        ("qualify_mql", "mql"),
        ("accept", "accepted"),
    ]
    assert body["history"][1]["actor"]["username"] == rep.username
    assert {c["kind"] for c in body["clocks"]} >= {"decision", "first_touch", "qualification"}
    assert {c["kind"] for c in body["running_clocks"]} == {"first_touch", "qualification"}
    assert "reject" not in body["available_transitions"]
    assert "nurture" in body["available_transitions"]


def test_another_reps_lead_is_404_like_a_missing_one(rep, other_rep):
    theirs = LeadFactory(stage=Stage.MQL, owner=other_rep)
    api = client_for(rep)

    hidden = api.get(f"/api/v1/leads/{theirs.pk}/")
    missing = api.get("/api/v1/leads/99999999/")
    absurd = api.get("/api/v1/leads/99999999999999999999999999/")

    assert hidden.status_code == missing.status_code == absurd.status_code == 404
    assert hidden.json() == missing.json()


def test_an_archived_lead_is_gone_from_the_api(marketing):
    lead = LeadFactory()
    services.archive(lead=lead, by=marketing)

    assert client_for(marketing).get(f"/api/v1/leads/{lead.pk}/").status_code == 404
