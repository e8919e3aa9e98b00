import pytest
from django.core.management import call_command

from leads.models import Lead, StageChange
from leads.stages import Stage

pytestmark = pytest.mark.django_db


def test_the_demo_fills_every_stage_with_a_history_that_replays():
    # one load for all checks: it drives every lead through the real services
    call_command("seed_demo", "--force", verbosity=0)  # tests run with DEBUG off

    assert Lead.objects.count() == 480 + 5  # the year, and five RFQs from the last hour
    assert set(Lead.objects.values_list("stage", flat=True)) == set(Stage.values)

    history: dict[int, list[StageChange]] = {}
    for change in StageChange.objects.order_by("at", "pk"):
        history.setdefault(change.lead_id, []).append(change)
    for lead in Lead.objects.all():
        stage = Stage.NEW
        for change in history.get(lead.pk, []):
            assert change.from_stage == stage, (lead.pk, change)
            stage = change.to_stage
        assert stage == lead.stage, lead.pk

    verdicts = StageChange.objects.filter(transition__in=["reject", "nurture", "disqualify"])
    assert verdicts.exists()
    assert not verdicts.filter(reason__isnull=True).exists()
    # stored scores are today's (decayed, as the nightly refresh leaves them): the one a
    # list shows and the MQL guard reads is the one the lead page explains line by line
    from django.utils import timezone

    from leads.selectors import scoring_events_of
    from leads.services import compute_score

    open_leads = list(
        Lead.objects.filter(
            stage__in=[Stage.NEW, Stage.ENGAGED], criteria_set__isnull=False
        ).select_related("account", "product_line", "criteria_set")
    )
    now, history = timezone.now(), scoring_events_of(open_leads)

    def stale(lead: Lead) -> bool:
        today = compute_score(lead, now, events=history[lead.pk])
        # (the seconds since the load may tip a decayed sum over a rounding edge)
        return lead.fit_score != today.fit or abs(lead.engagement_score - today.engagement) > 1

    assert open_leads and not [lead.pk for lead in open_leads if stale(lead)]
    # the reps have work today
    assert Lead.objects.filter(stage=Stage.MQL, owner__username="rep").exists()
    assert Lead.objects.filter(stage=Stage.ACCEPTED, owner__username="rep").exists()


def test_a_demo_load_stopped_half_way_leaves_nothing_so_the_next_run_loads_it(monkeypatch):
    from django.contrib.auth import get_user_model

    from leads import demo

    real = demo.create_leads

    def stopped(**kwargs):
        real(**{**kwargs, "count": 12})  # some leads written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "create_leads", stopped)
    with pytest.raises(KeyboardInterrupt):
        call_command("seed_demo", "--force", "--if-empty", "--leads", "40", verbosity=0)
    assert not get_user_model().objects.exists()
    assert not Lead.objects.exists()

    monkeypatch.setattr(demo, "create_leads", real)
    call_command("seed_demo", "--force", "--if-empty", "--leads", "40", verbosity=0)
    assert get_user_model().objects.filter(username="rep").exists()
    assert Lead.objects.count() == 40 + 5
