"""The reports' team of a lead (reporting.selectors.Teams, SQL for many leads at once)
is the team routing gives it (routing.assignment.team_of), lead by lead."""

import datetime as dt

import pytest

from leads.models import Lead
from reporting.selectors import Teams
from routing.assignment import team_of
from routing.models import Assignment, Team, TeamMembership
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def leads(manager):
    east = Team.objects.create(name="East", manager=manager)
    west = Team.objects.create(name="West", manager=manager)
    old = Team.objects.create(name="Old", manager=manager, active=False)
    walt, ulla, otto = (UserFactory(role="Sales rep") for _ in range(3))
    TeamMembership.objects.create(team=east, user=walt)
    TeamMembership.objects.create(team=west, user=walt)
    TeamMembership.objects.create(team=east, user=ulla, active=False)
    TeamMembership.objects.create(team=west, user=ulla)
    TeamMembership.objects.create(team=old, user=otto)
    TeamMembership.objects.create(team=east, user=otto)

    def routed(lead, *steps):
        # as routing records a hand-over: the Assignment row, and the lead's routed team
        for team, hours in steps:
            Assignment.objects.create(
                lead=lead,
                kind="rule",
                owner=lead.owner,
                team=team,
                at=T0 + dt.timedelta(hours=hours),
            )
            if team is not None:
                Lead.objects.filter(pk=lead.pk).update(routed_team=team)
        lead.refresh_from_db()
        return lead

    return {
        "walt's, never routed: his first team": LeadFactory(owner=walt),
        "routed east then west": routed(LeadFactory(owner=walt), (east, 0), (west, 1)),
        "ulla's: her first active membership": LeadFactory(owner=ulla),
        "otto's: his first active team": LeadFactory(owner=otto),
        "nobody's": LeadFactory(owner=None),
        "routed to a closed team": routed(LeadFactory(owner=None), (old, 0)),
        "routed twice at once: the later row": routed(
            LeadFactory(owner=ulla), (east, 0), (west, 0)
        ),
        "handed over without a team later": routed(LeadFactory(owner=otto), (west, 0), (None, 5)),
    }


def test_it_gives_each_lead_the_team_routing_gives_it(leads):
    teams = Teams.load()
    computed = dict(Lead.objects.annotate(team=teams.of()).values_list("pk", "team"))

    for label, lead in leads.items():
        expected = team_of(lead)
        assert computed[lead.pk] == (expected.pk if expected else None), label


def test_a_team_filter_finds_the_same_leads(leads):
    teams = Teams.load()

    for team in Team.objects.all():
        found = set(Lead.objects.filter(teams.leads_of(team.pk)).values_list("pk", flat=True))
        expected = {lead.pk for lead in leads.values() if team_of(lead) == team}
        assert found == expected, team.name
