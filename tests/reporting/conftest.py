"""Known histories for the reports: leads with audit rows written at chosen times.

StageChange is append-only, but inserting is how the lifecycle writes it too; writing the
rows directly (instead of replaying the services) lets a test pick every time and score
and so assert every number a report shows. `change` also keeps the lead's first times
(leads.milestones), as every writer of audit rows does.
"""

import datetime as dt

import pytest
from django.test import RequestFactory

from leads.milestones import note_stage_change
from leads.models import Lead, StageChange
from leads.stages import Stage
from qualification.models import Reason
from reporting.filters import report_filter, scope_of
from reporting.models import ReportTargets
from routing.models import ClockKind, SlaClock, Team, TeamMembership
from tests.factories import LeadFactory, SlaPolicyFactory, UserFactory

UTC = dt.UTC
# Monday 2 March 2026, 09:00 UTC; the report periods below are March 2026.
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MARCH = {"mql_from": "2026-03-01", "mql_to": "2026-03-31"}
NOW = dt.datetime(2026, 4, 15, 12, 0, tzinfo=UTC)

TRANSITIONS = {
    (Stage.NEW, Stage.ENGAGED): "engage",
    (Stage.NEW, Stage.MQL): "qualify_mql",
    (Stage.ENGAGED, Stage.MQL): "qualify_mql",
    (Stage.NURTURE, Stage.MQL): "qualify_mql",
    (Stage.REJECTED, Stage.MQL): "dispute",
    (Stage.MQL, Stage.ACCEPTED): "accept",
    (Stage.MQL, Stage.REJECTED): "reject",
    (Stage.ACCEPTED, Stage.SQL): "qualify_sql",
    (Stage.SQL, Stage.OPPORTUNITY): "convert",
    (Stage.REJECTED, Stage.NURTURE): "recycle",
    (Stage.ACCEPTED, Stage.NURTURE): "nurture",
    (Stage.SQL, Stage.NURTURE): "nurture",
    (Stage.ACCEPTED, Stage.DISQUALIFIED): "disqualify",
}


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


def change(lead, **values) -> StageChange:
    """Write one audit row and keep the lead's first times, as the transition runner does."""
    row = StageChange.objects.create(lead=lead, **values)
    fields = note_stage_change(
        lead,
        row.from_stage,
        row.to_stage,
        row.at,
        fit_score=row.fit_score,
        engagement_score=row.engagement_score,
        criteria_set_id=row.criteria_set_id,
    )
    if fields:
        Lead.objects.filter(pk=lead.pk).update(**{f: getattr(lead, f) for f in fields})
    return row


def journey(
    steps,
    *,
    start=T0,
    owner=None,
    actor="owner",
    fit=50,
    engagement=40,
    reason="not-mql-definition",
    note="",
    snapshots=None,
    **lead_kwargs,
):
    """A lead that went through `steps`, (stage, hours after `start`) pairs, from new.

    Decisions (accept, reject, qualify to SQL...) are made by `actor` (default: the
    owner; None: the system). Rejections carry `reason` (a code) and `note`.
    `snapshots` maps a stage to the checklist snapshot its audit row records. Scores:
    `fit`/`engagement` for every row, or a list with one value per step."""
    final = steps[-1][0]
    lead = LeadFactory(stage=final, owner=owner, **lead_kwargs)
    person = owner if actor == "owner" else actor
    previous = Stage.NEW
    for i, (stage, offset) in enumerate(steps):
        transition = TRANSITIONS[(previous, stage)]
        change(
            lead,
            from_stage=previous,
            to_stage=stage,
            transition=transition,
            actor=None if transition in ("engage", "qualify_mql") else person,
            at=start + hours(offset),
            reason=Reason.objects.get(code=reason) if transition == "reject" else None,
            note=note if transition == "reject" else "",
            checklist_snapshot=(snapshots or {}).get(stage, []),
            fit_score=fit[i] if isinstance(fit, list) else fit,
            engagement_score=engagement[i] if isinstance(engagement, list) else engagement,
            criteria_set=lead.criteria_set,
        )
        previous = stage
    return lead


def clock(lead, kind, *, owner=None, started=T0, due=None, stopped=None, outcome="", took=None):
    """An SLA clock on `lead`; `took` is its business time in hours once stopped."""
    return SlaClock.objects.create(
        lead=lead,
        kind=kind,
        policy=_policy(),
        owner=owner,
        target=hours(4),
        started_at=started,
        due_at=due or started + hours(4),
        stopped_at=stopped,
        outcome=outcome,
        business_time=hours(took) if took is not None else None,
    )


def _policy():
    from routing.models import SlaPolicy

    return SlaPolicy.objects.first() or SlaPolicyFactory()


def set_targets(**values):
    ReportTargets.objects.filter(pk=1).update(**values)


@pytest.fixture
def east(manager, rep, other_rep):
    """The manager's team: Rita (rep) and Otto (other_rep)."""
    team = Team.objects.create(name="East", manager=manager)
    TeamMembership.objects.create(team=team, user=rep)
    TeamMembership.objects.create(team=team, user=other_rep)
    return team


@pytest.fixture
def west(db):
    """Another manager's team, with its own rep."""
    boss = UserFactory(username="wanda", role="Sales manager")
    team = Team.objects.create(name="West", manager=boss)
    walt = UserFactory(username="walt", role="Sales rep")
    TeamMembership.objects.create(team=team, user=walt)
    return team


ENGAGED, MQL, ACCEPTED, REJECTED = Stage.ENGAGED, Stage.MQL, Stage.ACCEPTED, Stage.REJECTED
SQL, OPP, NURTURE = Stage.SQL, Stage.OPPORTUNITY, Stage.NURTURE
DAY = 24


@pytest.fixture
def march(east, rep, other_rep):
    leads = {
        "L1": journey(
            [(ENGAGED, 0), (MQL, 24), (ACCEPTED, 30), (SQL, 30 + 4 * DAY), (OPP, 30 + 14 * DAY)],
            owner=rep,
        ),
        "L2": journey([(ENGAGED, 0), (MQL, 24), (ACCEPTED, 36), (SQL, 36 + 8 * DAY)], owner=rep),
        "L3": journey([(ENGAGED, 0), (MQL, 24), (ACCEPTED, 54)], owner=other_rep),
        "L4": journey(
            [(ENGAGED, 0), (MQL, 24), (REJECTED, 26), (NURTURE, 50)],
            owner=other_rep,
            reason="misrouted",
        ),
        "L5": journey(
            [(ENGAGED, 0), (MQL, 48), (REJECTED, 50)],
            owner=other_rep,
            source="webinar",
            reason="rejection-other",
        ),
        "L6": journey([(ENGAGED, 0), (MQL, 72)], owner=rep, source="webinar"),
        "L7": journey([(ENGAGED, 0)], source="webinar"),
        "L8": journey(
            [(ENGAGED, -30 * DAY), (MQL, -29 * DAY), (ACCEPTED, -29 * DAY + 2)], owner=rep
        ),
    }
    return leads


@pytest.fixture
def clocks(march, rep, other_rep):
    """Decision: L1 met in 1 h, L2 met in 3 h, L3 breached in 6 h, L6 still running past
    due, L4 handed over, L5 running and not yet due. First touch: L1 met in 2 h, L2 met
    in 4 h, L3 breached in 10 h (a week later). Disposition: L4 met in 8 h."""
    m = march
    d, ft = ClockKind.DECISION, ClockKind.FIRST_TOUCH
    clock(
        m["L1"], d, owner=rep, started=T0 + hours(24), stopped=T0 + hours(30), outcome="met", took=1
    )
    clock(
        m["L2"], d, owner=rep, started=T0 + hours(24), stopped=T0 + hours(36), outcome="met", took=3
    )
    clock(
        m["L3"],
        d,
        owner=other_rep,
        started=T0 + hours(24),
        stopped=T0 + hours(54),
        outcome="breached",
        took=6,
    )
    clock(m["L6"], d, owner=rep, started=T0 + hours(72))
    clock(
        m["L4"],
        d,
        owner=other_rep,
        started=T0 + hours(24),
        stopped=T0 + hours(25),
        outcome="reassigned",
        took=0.5,
    )
    clock(m["L5"], d, owner=other_rep, started=NOW - hours(1))
    clock(
        m["L1"],
        ft,
        owner=rep,
        started=T0 + hours(30),
        stopped=T0 + hours(40),
        outcome="met",
        took=2,
    )
    clock(
        m["L2"],
        ft,
        owner=rep,
        started=T0 + hours(36),
        stopped=T0 + hours(50),
        outcome="met",
        took=4,
    )
    clock(
        m["L3"],
        ft,
        owner=other_rep,
        started=T0 + hours(8 * DAY),
        stopped=T0 + hours(10 * DAY),
        outcome="breached",
        took=10,
    )
    clock(
        m["L4"],
        ClockKind.DISPOSITION,
        started=T0 + hours(26),
        stopped=T0 + hours(50),
        outcome="met",
        took=8,
    )


@pytest.fixture
def full(clocks, march):
    """The March cohort with clocks and a checklist answered at L4's rejection and L1's SQL:
    every report has something to show."""
    from tests.factories import ChecklistItemFactory, CriteriaSetFactory

    item = ChecklistItemFactory(criteria_set=CriteriaSetFactory(status="draft"))
    for lead, stage, answer in (
        (march["L4"], REJECTED, "unknown"),
        (march["L1"], SQL, "confirmed"),
    ):
        change(
            lead,
            from_stage=Stage.MQL if stage == REJECTED else Stage.ACCEPTED,
            to_stage=stage,
            transition="reject" if stage == REJECTED else "qualify_sql",
            actor=lead.owner,
            at=T0 + hours(400),
            checklist_snapshot=[{"item": item.pk, "answer": answer, "must_have": True}],
            fit_score=50,
            engagement_score=40,
        )
    return march


def scope_for(user, **params):
    """The report scope `user` gets for the March cohort with these filters."""
    request = RequestFactory().get("/reports/", {**MARCH, **params})
    request.user = user
    scope = scope_of(report_filter(request, now=NOW), now=NOW)
    assert scope is not None
    return scope
