"""Marketing ops configure routing and SLAs in the admin; history there is read-only."""

import pytest

from routing.models import Assignment, SlaClock
from tests.factories import RoutingRuleFactory, SlaPolicyFactory, TeamFactory
from tests.routing.conftest import make_mql

pytestmark = pytest.mark.django_db

PAGES = [
    "team",
    "outofoffice",
    "routingrule",
    "businesscalendar",
    "slapolicy",
    "slaclock",
    "assignment",
    "notification",
]


@pytest.mark.parametrize("model", PAGES)
def test_marketing_ops_see_every_routing_page(client, marketing, rep, model):
    RoutingRuleFactory(team=TeamFactory(reps=[rep]), countries="DE")
    SlaPolicyFactory()
    make_mql()
    client.force_login(marketing)

    assert client.get(f"/admin/routing/{model}/").status_code == 200


def test_marketing_ops_edit_teams_but_not_history(client, marketing, rep):
    RoutingRuleFactory(team=TeamFactory(reps=[rep]))
    SlaPolicyFactory()
    lead = make_mql()
    client.force_login(marketing)
    clock = SlaClock.objects.get(lead=lead)
    record = Assignment.objects.get(lead=lead)

    assert client.get("/admin/routing/team/add/").status_code == 200
    assert client.get("/admin/routing/slaclock/add/").status_code == 403
    page = client.get(f"/admin/routing/slaclock/{clock.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(f"/admin/routing/assignment/{record.pk}/delete/").status_code == 403


def test_a_sales_manager_may_view_but_not_change_routing(manager):
    assert manager.has_perm("routing.view_routingrule")
    assert not manager.has_perm("routing.change_routingrule")
    assert manager.has_perm("routing.add_outofoffice")
