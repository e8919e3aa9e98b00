"""The state machine itself, on unsaved instances: the transition table of the
architecture note, cell for cell, and the stage that cannot be assigned."""

import pytest

from leads.models import Lead
from leads.stages import Stage

S = Stage
ALL_STAGES = list(Stage.values)

# The lifecycle diagram of ARCHITECTURE.md: transition -> {source: target}.
DIAGRAM = {
    "engage": {S.NEW: S.ENGAGED},
    "qualify_mql": {S.NEW: S.MQL, S.ENGAGED: S.MQL, S.NURTURE: S.MQL},
    "accept": {S.MQL: S.ACCEPTED},
    "reject": {S.MQL: S.REJECTED},
    "qualify_sql": {S.ACCEPTED: S.SQL},
    "nurture": {S.ACCEPTED: S.NURTURE, S.SQL: S.NURTURE},
    "convert": {S.SQL: S.OPPORTUNITY},
    "recycle": {S.REJECTED: S.NURTURE},
    "dispute": {S.REJECTED: S.MQL},
    "disqualify": {
        s: S.DISQUALIFIED
        for s in (S.NEW, S.ENGAGED, S.MQL, S.ACCEPTED, S.REJECTED, S.SQL, S.NURTURE)
    },
}


def declared_table() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for t in Lead().get_all_stage_transitions():
        table.setdefault(t.name, {})[t.source] = t.target
    return table


def test_it_declares_exactly_the_transitions_of_the_diagram():
    assert declared_table() == {
        name: {str(s): str(t) for s, t in cells.items()} for name, cells in DIAGRAM.items()
    }


@pytest.mark.parametrize("stage", ALL_STAGES)
@pytest.mark.parametrize("name", list(DIAGRAM))
def test_it_allows_a_transition_only_from_the_diagrams_sources(stage, name):
    lead = Lead(stage=stage)
    method = getattr(lead, name)

    from django_fsm import can_proceed

    assert can_proceed(method, check_conditions=False) == (stage in DIAGRAM[name])


def test_it_refuses_a_direct_assignment_of_the_stage():
    lead = Lead(stage=Stage.MQL)

    with pytest.raises(AttributeError):
        lead.stage = Stage.SQL

    assert lead.stage == Stage.MQL


def test_closed_stages_have_no_way_out():
    for stage in (S.OPPORTUNITY, S.DISQUALIFIED):
        assert list(Lead(stage=stage).get_available_stage_transitions()) == []
