import datetime as dt

import pytest

from leads import services
from leads.stages import Stage
from tests.api.conftest import client_for
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()


@pytest.fixture
def history(manager):
    """Two MQLs this month: one accepted, one rejected."""
    first = LeadFactory(stage=Stage.ENGAGED, source="rfq")
    second = LeadFactory(stage=Stage.ENGAGED, source="webinar")
    for lead in (first, second):
        services.qualify_mql(lead=lead)
        lead.refresh_from_db()
    services.accept(lead=first, by=manager)
    services.reject(lead=second, by=manager, reason="duplicate")
    return first, second


@pytest.mark.parametrize("name", ["funnel", "sla", "calibration", "reasons", "score-bands"])
def test_every_report_answers_json_for_marketing(marketing, history, name):
    response = client_for(marketing).get(f"/api/v1/reports/{name}/")

    assert response.status_code == 200
    body = response.json()
    assert body["title"]
    assert isinstance(body["sections"], list)


def test_the_json_has_the_numbers_of_the_pages_csv_with_the_same_filters(
    client, marketing, history
):
    import csv
    import io

    api = client_for(marketing)
    client.force_login(marketing)

    for params in ({}, {"source": "rfq"}):
        body = api.get("/api/v1/reports/funnel/", params).json()
        exported = client.get("/reports/funnel.csv", params).content.decode()
        csv_rows = list(csv.reader(io.StringIO(exported)))
        assert body["sections"]
        for section in body["sections"]:
            assert section["columns"] in csv_rows
            for row in section["rows"]:
                assert row in csv_rows

    everything = api.get("/api/v1/reports/funnel/").json()
    only_rfq = api.get("/api/v1/reports/funnel/", {"source": "rfq"}).json()
    assert everything["sections"] != only_rfq["sections"]


def test_a_rep_may_not_read_reports(rep):
    response = client_for(rep).get("/api/v1/reports/funnel/")

    assert response.status_code == 403
    assert response.json()["errors"][0]["message"]


def test_an_unknown_report_is_404_and_bad_filters_are_400(marketing):
    client = client_for(marketing)

    assert client.get("/api/v1/reports/weather/").status_code == 404
    bad = client.get("/api/v1/reports/funnel/", {"mql_from": "not-a-date"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "mql_from"


def test_empty_and_unknown_filters_are_refused(marketing):
    client = client_for(marketing)

    empty = client.get("/api/v1/reports/calibration/", {"mql_from": ""})
    unknown = client.get("/api/v1/reports/funnel/", {"weather": "sunny"})

    assert (empty.status_code, unknown.status_code) == (400, 400)
    assert empty.json()["errors"][0]["field"] == "mql_from"
    assert unknown.json()["errors"][0]["field"] == "weather"
