"""Routing a new MQL: account match, rules in order, default team, weighted round robin,
availability and capacity, the manager as the last resort; every decision explained."""

import datetime as dt

import pytest

from leads import services
from leads.models import Lead
from leads.stages import Stage
from routing.assignment import Conditions, matches
from routing.models import Assignment, Notification, OutOfOffice, RoutingRule
from routing.selectors import latest_assignment
from tests.factories import (
    AccountFactory,
    LeadFactory,
    RoutingRuleFactory,
    TeamFactory,
    UserFactory,
)
from tests.routing.conftest import MONDAY_10, make_mql

pytestmark = pytest.mark.django_db


def name(user) -> str:
    return user.get_full_name()


# --- rules -------------------------------------------------------------------------------


def test_it_routes_by_the_first_matching_rule_in_order(rep, other_rep):
    germany_late = RoutingRuleFactory(order=2, countries="DE", team=TeamFactory(reps=[rep]))
    germany_first = RoutingRuleFactory(
        order=1, countries="de, at", team=TeamFactory(reps=[other_rep])
    )
    RoutingRuleFactory(order=0, countries="DE", active=False)
    RoutingRuleFactory(order=0, countries="FR")

    lead = make_mql(country="DE")

    assert lead.owner == other_rep
    record = latest_assignment(lead)
    assert record.kind == Assignment.Kind.RULE
    assert (record.rule, record.team) == (germany_first, germany_first.team)
    assert record.explanation[0] == (
        f"Rule '{germany_first.name}' matched (country DE, AT): team {germany_first.team}."
    )
    assert germany_late.team.assignments.count() == 0


def test_it_sends_what_no_rule_matches_to_the_default_team(rep):
    RoutingRuleFactory(countries="FR")
    default = TeamFactory(name="Everyone else", is_default=True, reps=[rep])

    lead = make_mql(country="DE")

    assert lead.owner == rep
    record = latest_assignment(lead)
    assert record.team == default
    assert record.rule is None
    assert "No routing rule matched: the default team Everyone else takes it." in (
        record.explanation
    )


def test_it_skips_a_rule_whose_team_is_inactive(rep, other_rep):
    RoutingRuleFactory(order=1, team=TeamFactory(reps=[rep], active=False))
    RoutingRuleFactory(order=2, team=TeamFactory(reps=[other_rep]))

    lead = make_mql()

    assert lead.owner == other_rep
    assert "is inactive" in latest_assignment(lead).explanation[0]


def test_without_rules_or_default_team_the_lead_waits_and_managers_are_told(manager):
    lead = make_mql()

    assert lead.owner is None
    record = latest_assignment(lead)
    assert record.kind == Assignment.Kind.UNASSIGNED
    assert "there is no default team" in record.explanation[-1]
    told = Notification.objects.get(recipient=manager, lead=lead)
    assert told.kind == Notification.Kind.NEW_MQL
    assert "no owner" in told.body


def test_rule_conditions_blank_match_anything_and_unknown_facts_fail_a_range():
    facts = {"country": "DE", "segment": "mid_market", "employee_count": None, "source": "rfq"}

    assert matches(Conditions(), facts, "standard")
    assert matches(Conditions(countries=("AT", "DE"), source="rfq"), facts, "hot")
    assert not matches(Conditions(countries=("AT",)), facts, "hot")
    assert not matches(Conditions(priority="hot"), facts, "standard")
    assert not matches(Conditions(employees_min=50), facts, "standard")
    assert matches(Conditions(employees_min=50, employees_max=500), {"employee_count": 500}, "")
    assert not matches(Conditions(employees_max=499), {"employee_count": 500}, "")
    assert matches(Conditions(industry="machinery"), {"industry": "Machinery"}, "")


def test_a_rule_describes_its_conditions_for_the_explanation():
    rule = RoutingRule(countries="de;at ch", segment="enterprise", employees_min=200)

    assert rule.country_list() == ["DE", "AT", "CH"]
    assert Conditions.of(rule).describe() == (
        "country DE, AT, CH; segment enterprise; employees 200 to any"
    )


# --- account match ----------------------------------------------------------------------


def test_a_new_mql_goes_to_the_rep_who_already_works_the_account(rep, other_rep):
    RoutingRuleFactory(team=TeamFactory(reps=[rep]))
    account = AccountFactory(name="Acme Pumps")
    LeadFactory(account=account, stage=Stage.ACCEPTED, owner=other_rep, first_name="Ann")

    lead = make_mql(account=account)

    assert lead.owner == other_rep
    record = latest_assignment(lead)
    assert record.kind == Assignment.Kind.ACCOUNT
    assert record.explanation[0].startswith(f"Account match: {name(other_rep)} already works")


def test_account_match_gives_way_when_that_rep_is_out_of_office(rep, other_rep):
    RoutingRuleFactory(team=TeamFactory(reps=[rep]))
    account = AccountFactory()
    LeadFactory(account=account, stage=Stage.SQL, owner=other_rep)
    day = MONDAY_10.date()
    OutOfOffice.objects.create(user=other_rep, unavailable_from=day, unavailable_to=day)

    lead = make_mql(account=account)

    assert lead.owner == rep
    assert (
        "is out of office: routed by the rules instead" in (latest_assignment(lead).explanation[0])
    )


def test_a_rejected_lead_does_not_tie_its_account_to_the_rep(rep, other_rep):
    RoutingRuleFactory(team=TeamFactory(reps=[rep]))
    account = AccountFactory()
    LeadFactory(account=account, stage=Stage.REJECTED, owner=other_rep)

    assert make_mql(account=account).owner == rep


# --- inside a team ----------------------------------------------------------------------


def test_it_spreads_leads_by_weight_in_a_smooth_rotation(rep, other_rep):
    third = UserFactory(role="Sales rep")
    RoutingRuleFactory(team=TeamFactory(reps=[rep, (other_rep, 2), third]))

    owners = [make_mql().owner for _ in range(8)]

    assert owners.count(rep) == 2
    assert owners.count(other_rep) == 4
    assert owners.count(third) == 2
    # smooth: the heavier rep never gets three in a row
    assert all(owners[i : i + 3] != [other_rep] * 3 for i in range(len(owners) - 2))


def test_it_skips_reps_out_of_office_or_at_capacity_and_says_why(rep, other_rep):
    third = UserFactory(role="Sales rep")
    team = TeamFactory(reps=[rep, other_rep, third], max_open_leads=1)
    RoutingRuleFactory(team=team)
    day = MONDAY_10.date()
    OutOfOffice.objects.create(
        user=rep, unavailable_from=day - dt.timedelta(days=2), unavailable_to=day
    )
    LeadFactory(stage=Stage.MQL, owner=other_rep)
    # leads in other stages do not count against capacity
    LeadFactory(stage=Stage.SQL, owner=third)

    lead = make_mql()

    assert lead.owner == third
    lines = latest_assignment(lead).explanation
    assert f"{name(rep)} skipped: out of office." in lines
    assert f"{name(other_rep)} skipped: at capacity (1 of 1 open MQL and accepted leads)." in (
        lines
    )
    assert lines[-1].startswith(f"Weighted round robin in {team}: {name(third)}")


def test_a_reps_own_capacity_overrides_the_teams(rep, other_rep):
    team = TeamFactory(reps=[rep, other_rep], max_open_leads=5)
    RoutingRuleFactory(team=team)
    team.memberships.filter(user=rep).update(max_open_leads=1)
    LeadFactory(stage=Stage.ACCEPTED, owner=rep)

    owners = {make_mql().owner for _ in range(3)}

    assert owners == {other_rep}


def test_when_nobody_is_available_the_manager_gets_the_lead_and_is_told(rep, manager):
    team = TeamFactory(reps=[rep], manager=manager)
    RoutingRuleFactory(team=team)
    day = MONDAY_10.date()
    OutOfOffice.objects.create(user=rep, unavailable_from=day, unavailable_to=day)

    lead = make_mql()

    assert lead.owner == manager
    record = latest_assignment(lead)
    assert record.kind == Assignment.Kind.MANAGER
    assert record.explanation[-1] == (
        f"Nobody in {team} is available: the team's manager, {name(manager)}."
    )
    told = Notification.objects.get(recipient=manager, lead=lead)
    assert "nobody in your team could take it" in told.body
    assert "out of office" in told.body


def test_out_of_office_ends_on_its_last_day(rep):
    RoutingRuleFactory(team=TeamFactory(reps=[rep]))
    day = MONDAY_10.date()
    OutOfOffice.objects.create(
        user=rep, unavailable_from=day - dt.timedelta(days=7), unavailable_to=day
    )

    tuesday = MONDAY_10 + dt.timedelta(days=1)

    assert make_mql(when=tuesday).owner == rep


# --- the lifecycle's other ways into mql ---------------------------------------------------


def test_a_disputed_rejection_goes_to_the_rejecting_reps_team_manager(rep, manager, marketing):
    team = TeamFactory(reps=[rep], manager=manager)
    RoutingRuleFactory(team=team)
    lead = make_mql()
    services.reject(lead=lead, by=rep, reason="misrouted", at=MONDAY_10)
    lead.refresh_from_db()

    services.dispute(lead=lead, by=marketing, note="Territory is right, see CRM")

    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.MQL, manager)
    record = latest_assignment(lead)
    assert record.kind == Assignment.Kind.DISPUTE
    assert record.explanation == [
        f"Rejected by {name(rep)}: Misrouted (wrong territory or product line).",
        "Marketing disputed the rejection: Territory is right, see CRM",
        f"{name(manager)}, manager of {team}, decides.",
    ]
    assert Notification.objects.filter(recipient=manager, kind="new_mql", lead=lead).exists()


def test_a_recycled_lead_that_qualifies_again_is_routed_afresh(rep, other_rep, marketing):
    RoutingRuleFactory(team=TeamFactory(reps=[rep, other_rep]))
    lead = make_mql()
    assert lead.owner == rep
    services.reject(lead=lead, by=rep, reason="misrouted", at=MONDAY_10)
    services.recycle(lead=Lead.objects.get(pk=lead.pk), by=marketing, at=MONDAY_10)

    back = services.qualify_mql(lead=Lead.objects.get(pk=lead.pk), at=MONDAY_10).lead

    assert latest_assignment(back).kind == Assignment.Kind.RULE
    assert back.owner == other_rep  # the rotation moved on; rep said no
