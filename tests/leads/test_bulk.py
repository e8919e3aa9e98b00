"""Many rows written in one statement (leads.bulk): what is read back is what was given."""

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import gettext_lazy

from leads.bulk import insert_rows, update_columns
from leads.models import EngagementEvent, Lead
from reporting.models import ReportTargets
from routing.models import (
    BusinessCalendar,
    Notification,
    SlaClock,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.factories import BusinessCalendarFactory, LeadFactory, SlaPolicyFactory, UserFactory

BERLIN = ZoneInfo("Europe/Berlin")
# text PostgreSQL's literals and JSON both escape: quotes, backslashes, braces, commas,
# a newline, letters beyond ASCII and a character beyond the Basic Multilingual Plane
AWKWARD = 'He said "O\'Neil\\s {draft}, v2"\nÖlförderpumpe 🚜'


@pytest.mark.django_db
def test_inserted_rows_get_their_own_keys_and_read_back_as_given():
    leads = LeadFactory.create_batch(3)
    events = [
        EngagementEvent(
            lead=lead,
            kind=EngagementEvent.Kind.PAGE_VIEW,
            occurred_at=dt.datetime(2026, 3, 29, 1, 30, 0, 123456 + n, tzinfo=BERLIN),
            external_id=None if n == 1 else f"id-{n}",
            url=AWKWARD if n == 2 else "",
            content_tag="datasheet",
            metadata={"nested": {"list": [1, 2.5, None, True]}, "text": AWKWARD} if n else {},
        )
        for n, lead in enumerate(leads)
    ]
    before = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        returned = insert_rows(events)
    assert len(queries) == 1
    assert returned == events
    assert len({event.pk for event in events}) == 3
    for n, event in enumerate(events):
        stored = EngagementEvent.objects.get(pk=event.pk)
        assert stored.lead_id == leads[n].pk
        assert stored.external_id == (None if n == 1 else f"id-{n}")
        assert stored.occurred_at == dt.datetime(2026, 3, 29, 1, 30, 0, 123456 + n, tzinfo=BERLIN)
        assert stored.url == (AWKWARD if n == 2 else "")
        assert stored.metadata == event.metadata
        # auto_now_add, as bulk_create sets it: on the object and in the row
        assert stored.created_at == event.created_at >= before
    # saved: a later save updates the row rather than inserting another
    events[0].content_tag = "brochure"
    events[0].save()
    assert EngagementEvent.objects.count() == 3
    assert EngagementEvent.objects.get(pk=events[0].pk).content_tag == "brochure"


@pytest.mark.django_db
def test_a_related_object_saved_after_it_was_given_is_taken_and_an_unsaved_one_refused():
    lead = LeadFactory.build(account=None, criteria_set=None, product_line=None)
    event = EngagementEvent(
        lead=lead, kind=EngagementEvent.Kind.PAGE_VIEW, occurred_at=timezone.now()
    )
    with pytest.raises(ValueError, match="unsaved related object 'lead'"):
        insert_rows([event])
    assert EngagementEvent.objects.count() == 0
    lead.save()
    insert_rows([event])
    assert EngagementEvent.objects.get(pk=event.pk).lead_id == lead.pk


@pytest.mark.django_db
def test_lazily_translated_text_is_stored_as_its_text():
    rep = UserFactory()
    note = Notification(recipient=rep, kind="new_mql", title=gettext_lazy("Lead"), body="")
    (stored,) = insert_rows([note])
    assert Notification.objects.get(pk=stored.pk).title == "Lead"


@pytest.mark.django_db
def test_updated_columns_read_back_as_given_and_the_others_stay():
    first, second = LeadFactory.create_batch(2, title="Plant engineer")
    first.follow_up_on = dt.date(2028, 2, 29)
    first.sla_due_at = dt.datetime(2026, 10, 25, 1, 59, 59, 999999, tzinfo=BERLIN)
    first.fast_lane_reason = AWKWARD
    second.follow_up_on = None
    second.sla_due_at = None
    second.fast_lane_reason = ""
    first.title = second.title = "not written"
    with CaptureQueriesContext(connection) as queries:
        written = update_columns(
            [first, second], ["follow_up_on", "sla_due_at", "fast_lane_reason"]
        )
    assert (written, len(queries)) == (2, 1)
    first_row, second_row = Lead.objects.order_by("pk").filter(pk__in=[first.pk, second.pk])
    assert first_row.follow_up_on == dt.date(2028, 2, 29)
    assert first_row.sla_due_at == dt.datetime(2026, 10, 25, 1, 59, 59, 999999, tzinfo=BERLIN)
    assert first_row.fast_lane_reason == AWKWARD
    assert (second_row.follow_up_on, second_row.sla_due_at, second_row.fast_lane_reason) == (
        None,
        None,
        "",
    )
    assert {first_row.title, second_row.title} == {"Plant engineer"}


@pytest.mark.django_db
def test_durations_keep_every_microsecond_either_way():
    lead = LeadFactory()
    policy = SlaPolicyFactory()
    started = timezone.now()
    durations = [
        dt.timedelta(days=40, hours=5, microseconds=7),
        dt.timedelta(microseconds=-1),
        dt.timedelta(0),
        None,
    ]
    clocks = [
        SlaClock(
            lead=lead,
            kind=kind,
            policy=policy,
            target=dt.timedelta(hours=4),
            started_at=started,
            due_at=started,
            stopped_at=started,
            business_time=duration,
        )
        for kind, duration in zip(
            ("decision", "first_touch", "qualification", "disposition"), durations, strict=True
        )
    ]
    insert_rows(clocks)
    assert [SlaClock.objects.get(pk=c.pk).business_time for c in clocks] == durations
    for clock in clocks:
        clock.business_time = dt.timedelta(days=-3, seconds=86399, microseconds=999999)
    update_columns(clocks, ["business_time"])
    assert {SlaClock.objects.get(pk=c.pk).business_time for c in clocks} == {
        dt.timedelta(days=-2, microseconds=-1)
    }


@pytest.mark.django_db
def test_times_of_day_and_uuids_read_back_as_given():
    calendars = [
        BusinessCalendarFactory.build(start=dt.time(7, 30), end=dt.time(16, 45, 30, 250)),
        BusinessCalendarFactory.build(start=dt.time(0), end=dt.time(23, 59, 59, 999999)),
    ]
    insert_rows(calendars)
    assert [
        (c.start, c.end)
        for c in BusinessCalendar.objects.filter(pk__in=[c.pk for c in calendars]).order_by("pk")
    ] == [(dt.time(7, 30), dt.time(16, 45, 30, 250)), (dt.time(0), dt.time(23, 59, 59, 999999))]
    subscription = WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example/hooks", secret="s", event_types=["lead.stage_changed"]
    )
    event = uuid.uuid4()
    (delivery,) = insert_rows(
        [
            WebhookDelivery(
                subscription=subscription,
                event_id=event,
                event_type="lead.stage_changed",
                payload={},
            )
        ]
    )
    assert WebhookDelivery.objects.get(pk=delivery.pk).event_id == event


@pytest.mark.django_db
def test_decimals_are_written_exactly():
    targets, _ = ReportTargets.objects.get_or_create(pk=ReportTargets.SINGLETON_PK)
    targets.acceptance_target = Decimal("87.5")
    targets.mql_sql_target_low = Decimal("0.1")
    update_columns([targets], ["acceptance_target", "mql_sql_target_low"])
    stored = ReportTargets.objects.get(pk=targets.pk)
    assert (stored.acceptance_target, stored.mql_sql_target_low) == (
        Decimal("87.5"),
        Decimal("0.1"),
    )
