"""The report filter's choices: what each person may pick."""

import datetime as dt

import pytest
from django.test import RequestFactory
from django.utils import timezone

from reporting.filters import report_filter
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def campaign_choices(user) -> list[str]:
    request = RequestFactory().get("/reports/")
    request.user = user
    return [value for value, _ in report_filter(request).filters["campaign"].extra["choices"]]


def test_it_offers_each_campaign_of_the_visible_leads_once_in_order(marketing, manager, east, rep):
    for campaign, owner in (
        ("Spring fair", rep),
        ("Spring fair", rep),
        ("Autumn webinar", None),
        ("", rep),
        ("Boiler expo", rep),
        ("Zulu", None),
    ):
        LeadFactory(campaign=campaign, owner=owner)
    LeadFactory(campaign="Archived only", archived_at=timezone.now() - dt.timedelta(days=1))

    assert campaign_choices(marketing) == ["Autumn webinar", "Boiler expo", "Spring fair", "Zulu"]
    # a manager sees their team's leads only
    assert campaign_choices(manager) == ["Boiler expo", "Spring fair"]
