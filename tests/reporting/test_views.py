"""The report pages and their CSV, tried by the personas."""

import csv
import io

import pytest
from django.test.utils import CaptureQueriesContext

from leads.stages import Stage
from reporting.models import ReportTargets
from reporting.sections import REPORTS
from routing.models import ClockKind

from .conftest import MARCH, T0, clock, hours, journey, set_targets

pytestmark = pytest.mark.django_db

SLUGS = list(REPORTS)
PLAN = {"revenue_target": "1200000", "months": "12", "average_deal_size": "25000", "win_rate": "25"}


def login(client, user):
    client.force_login(user)
    return client


def csv_sections(response) -> dict[str, list[list[str]]]:
    """The CSV's tables by section title: header row first."""
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    sections, current = {}, None
    for i, row in enumerate(rows):
        if (
            i > 0
            and rows[i - 1] == []
            and len(row) == 1
            and i + 1 < len(rows)
            and len(rows[i + 1]) > 1
        ):
            current = sections.setdefault(row[0], [])
        elif row == []:
            current = None
        elif current is not None:
            current.append(row)
    return sections


# --- access ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/reports/"] + [f"/reports/{s}/" for s in SLUGS] + ["/reports/funnel.csv"]
)
def test_it_refuses_reports_to_reps(client, rep, path):
    assert login(client, rep).get(path).status_code == 403


def test_it_sends_anonymous_visitors_to_login(client):
    response = client.get("/reports/funnel/")

    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("persona", ["manager", "marketing"])
@pytest.mark.parametrize("slug", SLUGS)
def test_it_shows_every_report_to_managers_and_marketing_ops(client, request, persona, slug, full):
    user = request.getfixturevalue(persona)

    response = login(client, user).get(f"/reports/{slug}/", {**MARCH, **PLAN})

    assert response.status_code == 200
    page = response.content.decode()
    assert "css/reports.css" in page
    assert "<svg" in page and "<title" in page  # every report has a chart with a title
    assert '<table class="report-table">' in page


def test_it_lists_the_reports_with_links_keeping_the_filters(client, marketing):
    page = login(client, marketing).get("/reports/", {"source": "rfq"}).content.decode()

    for spec in REPORTS.values():
        assert f'href="/reports/{spec.slug}/?source=rfq"' in page
        assert f'href="/reports/{spec.slug}.csv?source=rfq"' in page


def test_it_offers_a_manager_only_the_teams_they_manage(client, manager, east, west):
    client = login(client, manager)

    page = client.get("/reports/funnel/").content.decode()
    refused = client.get("/reports/funnel/", {"team": west.pk})

    assert "East" in page and "West" not in page
    assert refused.status_code == 400
    assert "Select a valid choice" in refused.content.decode()


# --- what the pages say ----------------------------------------------------------------------


def test_it_shows_the_funnel_against_the_target_band(client, marketing, march):
    page = login(client, marketing).get("/reports/funnel/", MARCH).content.decode()

    assert "MQL → SQL: 33.3% (2 SQL of 6 MQLs" in page
    assert "the bar may be too high" in page
    assert "Below 10% MQL → SQL: Webinar (0.0%)." in page
    assert ">MQL → SQL by source channel</title>" in page
    assert ">Source channel</text>" in page  # the axis label


def test_it_says_no_data_for_an_empty_period(client, marketing, march):
    empty = {"mql_from": "2025-01-01", "mql_to": "2025-01-31"}
    client = login(client, marketing)

    for slug in SLUGS:
        if slug == "planner":
            continue
        response = client.get(f"/reports/{slug}/", empty)
        assert response.status_code == 200
        assert "no data" in response.content.decode()
        exported = client.get(f"/reports/{slug}.csv", empty).content.decode()
        assert "no data" in exported


def test_it_says_what_is_wrong_with_the_period(client, marketing):
    response = login(client, marketing).get(
        "/reports/funnel/", {"mql_from": "2026-03-31", "mql_to": "2026-03-01"}
    )

    assert response.status_code == 400
    assert "The period must end on or after its first day." in response.content.decode()


def test_it_plans_the_pipeline_from_the_form(client, marketing, march):
    page = login(client, marketing).get("/reports/planner/", {**MARCH, **PLAN}).content.decode()

    assert "4.0 won deals and 16.0 SQLs a month" in page
    assert (
        "At the measured MQL → SQL (33.3%, 2 SQL of 6 MQLs) that takes 48.0 MQLs a month." in page
    )


def test_it_asks_for_the_planner_inputs_first(client, marketing):
    page = login(client, marketing).get("/reports/planner/").content.decode()

    assert 'name="revenue_target"' in page and "Needed per month" not in page


# --- CSV ---------------------------------------------------------------------------------


def test_it_exports_the_same_numbers_as_csv(client, marketing, march):
    client = login(client, marketing)
    page = client.get("/reports/funnel/", MARCH).content.decode()

    response = client.get("/reports/funnel.csv", MARCH)
    same = client.get("/reports/funnel/", {**MARCH, "format": "csv"})

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert same.content == response.content
    sections = csv_sections(response)
    channels = sections["MQL → SQL by source channel, against the target band"]
    header = channels[0]
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in channels[1:]}
    assert rows["Inbound form"]["MQLs"] == "4"
    assert rows["Inbound form"]["MQL → SQL (%)"] == "50.00"
    assert rows["Webinar"]["MQL → SQL (%)"] == "0.00"
    assert rows["All channels"]["MQL → SQL (%)"] == "33.33"
    assert rows["All channels"]["Against the band"] == "the bar may be too high"
    # the page shows the same figures, rounded to one decimal
    assert ">33.3%<" in page and ">50.0%<" in page
    velocity = {row[0]: row for row in sections["Velocity: days between stages"][1:]}
    assert velocity["MQL → accepted"][1:4] == ["0.50", "1.10", "3"]
    assert response.content.decode().splitlines()[1] == "MQL 2026-03-01 to 2026-03-31"


def test_it_exports_wilson_intervals_as_two_columns(client, marketing, rep, other_rep, east):
    set_targets(calibration_min_sample=1)
    for i in range(3):
        journey([(Stage.MQL, i), (Stage.REJECTED, i + 1)], owner=other_rep)
    journey([(Stage.MQL, 1), (Stage.ACCEPTED, 2)], owner=rep)

    response = login(client, marketing).get("/reports/calibration.csv", MARCH)

    table = csv_sections(response)["East: reject rate by rep"]
    header = table[0]
    assert header[3:6] == [
        "Accept rate (%)",
        "Accept rate 95% CI low (%)",
        "Accept rate 95% CI high (%)",
    ]
    # by full name: the factories' first names are random and may repeat
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in table[1:]}
    otto = rows[other_rep.get_full_name()]
    # team: 3 rejects of 4: p = 0.75, d = 1 + 3.8416/4 = 1.9604, centre = (0.75 + 0.4802) / d
    # = 0.62753, half = 1.96·sqrt(0.046875 + 0.060025) / d = 0.32689 -> 30.06% .. 95.44%
    assert otto["Team reject rate (%)"] == "75.00"
    assert otto["Team reject rate 95% CI low (%)"] == "30.06"
    assert otto["Team reject rate 95% CI high (%)"] == "95.44"
    assert otto["Reject rate (%)"] == "100.00"


def test_it_keeps_spreadsheet_formulas_out_of_the_csv(client, marketing, rep, east):
    journey(
        [(Stage.MQL, 1), (Stage.REJECTED, 2)],
        owner=rep,
        reason="rejection-other",
        source="webinar",
        first_name="=HYPERLINK(1)",
        last_name="",
        email="x@example.com",
    )

    exported = login(client, marketing).get("/reports/rejections.csv", MARCH).content.decode()

    assert "'=HYPERLINK(1)" in exported


def test_a_rejection_without_its_expected_note_links_to_the_lead(client, march, marketing):
    # L5 was rejected as "Other" without the note that reason expects (conftest)
    page = login(client, marketing).get("/reports/rejections/", MARCH).content.decode()

    section = page[page.index("Rejections without the note") :]
    assert f'href="/leads/{march["L5"].pk}/"' in section


# --- query budget ----------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_it_runs_a_constant_number_of_queries(
    client, marketing, full, rep, slug, django_assert_max_num_queries
):
    client = login(client, marketing)

    def count() -> int:
        from django.db import connection

        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/reports/{slug}/", {**MARCH, **PLAN}).status_code == 200
        return len(queries)

    before = count()
    for i in range(5):
        lead = journey(
            [(Stage.ENGAGED, 0), (Stage.MQL, 24 + i), (Stage.ACCEPTED, 30 + i), (Stage.SQL, 90)],
            owner=rep,
            source="rfq",
        )
        clock(
            lead,
            ClockKind.DECISION,
            owner=rep,
            started=T0 + hours(24),
            stopped=T0 + hours(30),
            outcome="met",
            took=1,
        )

    assert count() == before
    with django_assert_max_num_queries(20):
        client.get(f"/reports/{slug}/", {**MARCH, **PLAN})


def cohort_lead(i, rep, other_rep):
    """One of many MQLs of March: accepted, rejected, qualified or waiting, with clocks."""
    person = rep if i % 2 else other_rep
    outcome = [(Stage.ACCEPTED, 30), (Stage.REJECTED, 28), (Stage.ACCEPTED, 30), (Stage.MQL, 24)]
    steps = [(Stage.ENGAGED, 0), (Stage.MQL, 24 + i % 5)]
    last = outcome[i % 4]
    if last[0] != Stage.MQL:
        steps.append(last)
    if i % 4 == 2:
        steps.append((Stage.SQL, 90))
    lead = journey(
        steps,
        start=T0 + hours(i % 200),
        owner=person,
        source=["rfq", "webinar", "inbound_form"][i % 3],
        fit=40 + i % 30,
    )
    clock(
        lead,
        ClockKind.DECISION,
        owner=person,
        started=T0 + hours(24),
        stopped=T0 + hours(30) if last[0] != Stage.MQL else None,
        outcome="met" if last[0] != Stage.MQL else "",
        took=1,
    )
    return lead


def test_every_report_runs_the_same_queries_for_10_and_200_leads(
    client, marketing, east, rep, other_rep
):
    from tests.api.conftest import client_for

    client = login(client, marketing)
    api = client_for(marketing)
    march = {"mql_from": "2026-03-01", "mql_to": "2026-04-30"}

    def counts() -> dict[str, int]:
        from django.db import connection

        out = {}
        for slug in SLUGS:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"/reports/{slug}/", {**march, **PLAN})
            assert response.status_code == 200, slug
            out[slug] = len(queries)
        for name in ("funnel", "sla", "calibration", "reasons", "score-bands"):
            with CaptureQueriesContext(connection) as queries:
                response = api.get(f"/api/v1/reports/{name}/", {**march, "team": east.pk})
            assert response.status_code == 200, name
            out[f"api {name}"] = len(queries)
        return out

    for i in range(10):
        cohort_lead(i, rep, other_rep)
    with_10 = counts()
    for i in range(10, 200):
        cohort_lead(i, rep, other_rep)

    assert counts() == with_10


# --- targets --------------------------------------------------------------------------------


def test_it_lets_marketing_ops_edit_the_targets_and_managers_read_them(marketing, manager):
    assert marketing.has_perm("reporting.change_reporttargets")
    assert manager.has_perm("reporting.view_reporttargets")
    assert not manager.has_perm("reporting.change_reporttargets")


def test_it_keeps_one_row_of_targets(client, marketing):
    marketing.is_superuser = False
    client = login(client, marketing)

    assert client.get("/admin/reporting/reporttargets/1/change/").status_code == 200
    assert client.get("/admin/reporting/reporttargets/add/").status_code == 403
    assert ReportTargets.load().mql_sql_industry_average == 13


def test_it_refuses_targets_out_of_order():
    from django.core.exceptions import ValidationError

    targets = ReportTargets.load()
    targets.mql_sql_target_high = 15  # below the target's low end (20)

    with pytest.raises(ValidationError):
        targets.full_clean()
