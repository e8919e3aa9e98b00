"""Who may call the API, how, and how often."""

import pytest
from rest_framework.test import APIClient

from leads.stages import Stage
from tests.api.conftest import client_for
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_without_a_token_it_is_401_not_a_login_redirect():
    response = APIClient().get("/api/v1/leads/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["errors"][0]["code"] == "not_authenticated"


def test_a_wrong_token_is_401():
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api.get("/api/v1/leads/")

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_a_token_of_an_inactive_user_is_refused(rep):
    api = client_for(rep)
    rep.is_active = False
    rep.save()

    assert api.get("/api/v1/leads/").status_code == 401


def test_a_reps_token_reads_only_the_reps_leads(rep, other_rep):
    mine = LeadFactory(stage=Stage.MQL, owner=rep)
    theirs = LeadFactory(stage=Stage.MQL, owner=other_rep)
    api = client_for(rep)

    assert api.get(f"/api/v1/leads/{mine.pk}/").status_code == 200
    assert api.get(f"/api/v1/leads/{theirs.pk}/").status_code == 404
    assert [lead["id"] for lead in api.get("/api/v1/leads/").json()["results"]] == [mine.pk]


def test_a_push_only_integration_sees_no_lead(integration):
    lead = LeadFactory()
    api = client_for(integration)

    assert api.get("/api/v1/leads/").json()["results"] == []
    assert api.get(f"/api/v1/leads/{lead.pk}/").status_code == 404


@pytest.mark.parametrize("persona", ["rep", "manager"])
def test_sales_may_not_push_leads(request, persona):
    api = client_for(request.getfixturevalue(persona))

    response = api.post("/api/v1/leads/", {"email": "a@b.example"}, format="json")

    assert response.status_code == 403
    assert "leads.add_lead" in response.json()["errors"][0]["message"]


def test_the_browser_session_works_and_its_writes_need_the_csrf_token(rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(rep)

    read = browser.get(f"/api/v1/leads/{lead.pk}/")
    write = browser.post(f"/api/v1/leads/{lead.pk}/transitions/accept/", {}, format="json")

    assert read.status_code == 200
    assert write.status_code == 403
    assert "CSRF" in write.json()["errors"][0]["message"]


def test_a_client_over_its_rate_gets_429_with_retry_after(settings, rep, other_rep, clear_throttle):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "3/minute"},
    }
    clear_throttle(rep)
    clear_throttle(other_rep)
    api = client_for(rep)

    answers = [api.get("/api/v1/leads/").status_code for _ in range(4)]
    throttled = api.get("/api/v1/leads/")

    assert answers == [200, 200, 200, 429]
    assert throttled.json()["errors"][0]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert client_for(other_rep).get("/api/v1/leads/").status_code == 200  # per token
    clear_throttle(rep)
    clear_throttle(other_rep)


def test_an_unknown_api_path_is_a_json_404():
    response = APIClient().post("/api/v1/nothing-here/", {}, format="json")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_a_missing_trailing_slash_is_pointed_out(marketing):
    response = client_for(marketing).post("/api/v1/leads", {}, format="json")

    assert response.status_code == 404
    assert "/api/v1/leads/" in response.json()["errors"][0]["message"]


def test_a_method_the_endpoint_does_not_have_is_405(marketing):
    response = client_for(marketing).delete("/api/v1/leads/")

    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"


def test_the_schema_and_the_docs_need_no_login(client):
    schema = client.get("/api/schema/", {"format": "json"})
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert docs.status_code == 200
    page = docs.content.decode()
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
