"""The first times a lead keeps for the reports (leads.milestones), and its scores at its
first MQL, say what its history says, whoever writes the history: the transition
runner, the bulk demo, the backfills."""

import datetime as dt
import importlib

import pytest
from django.db import connection
from django.db.models import Min, Q
from django.utils import timezone

from leads import services
from leads.milestones import ENTERED_FUNNEL, FIRST_MQL_SCORES, FIRST_REACHED, note_stage_change
from leads.models import Lead, StageChange
from leads.stages import Stage
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

MILESTONES = [ENTERED_FUNNEL, *FIRST_REACHED.values(), *FIRST_MQL_SCORES.values()]
NO_SCORES = dict(fit_score=0, engagement_score=0, criteria_set_id=None)
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def from_history(lead_ids=None) -> dict[int, dict[str, dt.datetime | None]]:
    """Each lead's first times as its stage changes say."""
    changes = StageChange.objects.all()
    if lead_ids is not None:
        changes = changes.filter(lead__in=lead_ids)
    firsts = {
        ENTERED_FUNNEL: Min(
            "at", filter=Q(from_stage=Stage.NEW, to_stage__in=[Stage.ENGAGED, Stage.MQL])
        ),
        **{name: Min("at", filter=Q(to_stage=stage)) for stage, name in FIRST_REACHED.items()},
    }
    out = {
        row.pop("lead"): {**row, **dict.fromkeys(FIRST_MQL_SCORES.values())}
        for row in changes.order_by().values("lead").annotate(**firsts).values("lead", *firsts)
    }
    # the scores of each lead's first MQL row: the earliest, the first written at that time
    seen = set()
    for row in changes.filter(to_stage=Stage.MQL).order_by("lead", "at", "pk").values():
        if row["lead_id"] not in seen:
            seen.add(row["lead_id"])
            out[row["lead_id"]].update({kept: row[of] for of, kept in FIRST_MQL_SCORES.items()})
    return out


def stored(lead_ids) -> dict[int, dict[str, dt.datetime | None]]:
    return {
        row.pop("pk"): row for row in Lead.objects.filter(pk__in=lead_ids).values("pk", *MILESTONES)
    }


def test_the_transitions_keep_the_first_time_of_each_step(manager, marketing):
    lead = LeadFactory(stage=Stage.NEW, fit_score=40, engagement_score=30)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)

    def step(call, hours, **kwargs):
        call(lead=lead, at=T0 + dt.timedelta(hours=hours), **kwargs)
        lead.refresh_from_db()

    step(services.engage, 0)
    step(services.qualify_mql, 1)
    step(services.reject, 2, by=manager, reason="misrouted")
    step(services.dispute, 3, by=marketing, note="Right territory, see CRM", owner=manager)
    step(services.accept, 4, by=manager)
    step(services.nurture, 5, by=manager, reason="no-budget-yet", follow_up_on=tomorrow)
    Lead.objects.filter(pk=lead.pk).update(fit_score=70, engagement_score=80)  # it grew
    lead.refresh_from_db()
    step(services.qualify_mql, 6)
    step(services.accept, 7, by=manager)

    assert lead.stage == Stage.ACCEPTED
    assert lead.mql_cycle > 1  # an MQL three times, accepted twice: the first time counts
    assert stored([lead.pk])[lead.pk] == {
        "entered_funnel_at": T0,
        "first_mql_at": T0 + dt.timedelta(hours=1),
        "first_accepted_at": T0 + dt.timedelta(hours=4),
        "first_rejected_at": T0 + dt.timedelta(hours=2),
        "first_sql_at": None,
        "first_opportunity_at": None,
        # its score when it first became an MQL, not when it came back at 70 and 80
        "first_mql_fit_score": 40,
        "first_mql_engagement_score": 30,
        "first_mql_criteria_set_id": lead.criteria_set_id,
    }
    assert lead.criteria_set_id is not None
    assert stored([lead.pk]) == from_history([lead.pk])


def test_a_change_recorded_late_still_keeps_the_earliest_time():
    lead = {"first_mql_at": T0, "first_mql_fit_score": 55}
    later, earlier = T0 + dt.timedelta(days=1), T0 - dt.timedelta(days=1)

    assert note_stage_change(lead, Stage.NURTURE, Stage.MQL, later, **NO_SCORES) == []
    assert lead["first_mql_fit_score"] == 55
    assert note_stage_change(
        lead, Stage.NEW, Stage.MQL, earlier, fit_score=20, engagement_score=35, criteria_set_id=4
    ) == [
        "first_mql_at",
        *FIRST_MQL_SCORES.values(),
        ENTERED_FUNNEL,
    ]
    assert lead == {
        "first_mql_at": earlier,
        "first_mql_fit_score": 20,
        "first_mql_engagement_score": 35,
        "first_mql_criteria_set_id": 4,
        ENTERED_FUNNEL: earlier,
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_bulk_demo_and_the_backfill_agree_with_the_history():
    if connection.vendor != "postgresql":
        pytest.skip("the bulk demo writes with PostgreSQL COPY")
    from leads import bulk_demo, demo

    demo.create_users()
    demo.create_criteria()
    demo.create_routing()
    bulk_demo.create_leads_bulk(count=2500, months=6)
    ids = list(Lead.objects.values_list("pk", flat=True))
    history = from_history()
    expected = {pk: history.get(pk, dict.fromkeys(MILESTONES)) for pk in ids}
    assert sum(1 for v in expected.values() if v["first_mql_at"]) > 100

    assert stored(ids) == expected

    # the migrations' UPDATE ... FROM fill the same values from the history
    Lead.objects.update(**dict.fromkeys(MILESTONES))
    with connection.cursor() as cursor:
        for name in ("0008_report_milestones", "0018_first_mql_scores"):
            cursor.execute(importlib.import_module(f"leads.migrations.{name}").BACKFILL)
    assert stored(ids) == expected
