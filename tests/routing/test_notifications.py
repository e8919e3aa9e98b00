"""In-app notifications and their e-mails (locmem backend in tests)."""

from smtplib import SMTPException
from unittest import mock

import pytest

from leads import services
from leads.models import EngagementEvent, Lead
from leads.stages import Stage
from routing import services as routing_services
from routing.models import Notification
from routing.selectors import notifications_for, unread_count
from routing.tasks import send_notification_email
from tests.factories import (
    AccountFactory,
    EngagementEventFactory,
    LeadFactory,
    RoutingRuleFactory,
    SlaPolicyFactory,
    TeamFactory,
    UserFactory,
    industrial_criteria,
)
from tests.routing.conftest import MONDAY_10, make_mql

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(rep, manager):
    team = TeamFactory(reps=[rep], manager=manager)
    RoutingRuleFactory(team=team)
    return team


def test_a_new_mql_tells_the_rep_what_they_need_for_the_first_call(team, rep):
    SlaPolicyFactory(decision_minutes=240)
    criteria = industrial_criteria()
    account = AccountFactory(name="Acme Pumps")
    LeadFactory(account=account, stage=Stage.ENGAGED, first_name="Ann", last_name="Lee")
    # rejected by its rep: shown with its owner, though it does not tie the account to them
    other_rep = UserFactory(first_name="Rita", last_name="Rejecter", role="Sales rep")
    LeadFactory(
        account=account, stage=Stage.REJECTED, first_name="Bo", last_name="Boe", owner=other_rep
    )
    lead = LeadFactory(
        stage=Stage.ENGAGED,
        account=account,
        criteria_set=criteria,
        campaign="Pump webinar spring",
        fit_score=60,
        engagement_score=45,
    )
    EngagementEventFactory(lead=lead, kind=EngagementEvent.Kind.WEBINAR_ATTENDED)

    services.qualify_mql(lead=lead, at=MONDAY_10)

    told = Notification.objects.get(recipient=rep, lead=lead)
    assert told.kind == Notification.Kind.NEW_MQL
    assert told.title == f"New MQL: {lead.name} (Acme Pumps)"
    body = told.body
    assert "A new MQL was routed to you." in body
    assert "Accept or reject it by Mon 02 Mar 2026, 14:00 CET." in body
    assert "- Target industry: +20" in body  # why it scored, best lines first
    assert "Latest engagement: Webinar attended" in body
    assert "- Ann Lee (Engaged)" in body  # the account's other open leads
    assert "- Bo Boe (Rejected, Rita Rejecter)" in body
    assert "campaign Pump webinar spring" in body
    assert "Weighted round robin in" in body  # why they got it


def test_the_email_is_sent_when_the_task_runs_and_only_once(team, rep, mailoutbox):
    lead = make_mql()
    told = Notification.objects.get(recipient=rep, lead=lead)

    assert send_notification_email(told.pk) is True
    assert send_notification_email(told.pk) is False  # a redelivered task sends nothing

    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [rep.email]
    assert mail.subject == told.title
    assert mail.body == told.body
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html"
    assert "<h3>Why you got it</h3>" in html
    told.refresh_from_db()
    assert told.emailed_at is not None


def test_the_email_is_queued_only_after_commit(team, rep, django_capture_on_commit_callbacks):
    with mock.patch.object(send_notification_email, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            lead = make_mql()
        assert not delay.called

        assert len(callbacks) == 1
        callbacks[0]()
        delay.assert_called_once_with(Notification.objects.get(lead=lead, recipient=rep).pk)


def test_a_failing_mail_server_never_undoes_the_transition(
    team, rep, mailoutbox, django_capture_on_commit_callbacks
):
    broken = mock.patch(
        "django.core.mail.EmailMultiAlternatives.send", side_effect=SMTPException("down")
    )
    # the worker runs the task at once, as it would after commit, and it fails
    with (
        broken,
        mock.patch.object(send_notification_email, "delay", side_effect=send_notification_email),
        django_capture_on_commit_callbacks(execute=True),
    ):
        lead = make_mql()

    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.stage, lead.owner) == (Stage.MQL, rep)
    told = Notification.objects.get(recipient=rep, lead=lead)
    assert told.emailed_at is None  # the task's retry will send it
    with broken, pytest.raises(SMTPException):
        send_notification_email(told.pk)

    assert send_notification_email(told.pk) is True
    assert len(mailoutbox) == 1


def test_a_broker_outage_after_commit_is_logged_not_raised(
    team, rep, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(send_notification_email, "delay", side_effect=OSError("no redis")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        lead = make_mql()

    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_the_unread_count_counts_only_the_users_unread_notifications(team, rep, other_rep):
    first, second = make_mql(), make_mql()
    assert unread_count(rep) == 2
    assert unread_count(other_rep) == 0

    routing_services.mark_read(
        user=rep, notification_ids=[notifications_for(rep).get(lead=first).pk]
    )
    assert unread_count(rep) == 1
    assert routing_services.mark_read(user=other_rep) == 0
    assert routing_services.mark_read(user=rep) == 1
    assert unread_count(rep) == 0
    assert list(notifications_for(rep, unread_only=True)) == []
    assert second.pk in {n.lead_id for n in notifications_for(rep)}


def test_a_user_without_an_address_gets_the_in_app_notification_only(team, rep, mailoutbox):
    type(rep).objects.filter(pk=rep.pk).update(email="")
    lead = make_mql()
    told = Notification.objects.get(lead=lead)

    assert send_notification_email(told.pk) is False
    assert mailoutbox == []


@pytest.mark.parametrize("kind", list(Notification.Kind))
def test_a_text_told_to_several_people_reads_as_if_written_for_each(kind):
    """A breach told to the owner and the manager is rendered once and addressed to each:
    every kind of text must read exactly as rendered for the one recipient, names with
    quotes, ampersands or odd spaces included."""
    from routing import notifications

    lead = LeadFactory(first_name="Zoë", last_name="O'Neil & Sons", title="  Buyer  ")
    context = {
        **notifications.lead_context(lead),
        "headline": "A lead was reassigned to you.",
        "explanation": ["One", "Two"],
        "note": "Call first",
        "by_name": "Mia Moe",
        "due": "Mon 02 Mar 2026, 14:00 CET",
        "clock": "Decision",
        "owner_name": "Rob Rep",
        "policy": "Standard",
        "started": "Mon 02 Mar 2026, 10:00 CET",
        "action": "Reassigned to Ann Lee.",
        "rejected_by": "Rob Rep",
        "reason": "Bad fit",
        "score_lines": ["Target industry: +20"],
        "fit_score": 60,
        "engagement_score": 45,
    }
    people = [
        UserFactory(first_name="Ann", last_name="Lee"),
        UserFactory(first_name="Bob", last_name="O'Brien & Co"),
        UserFactory(first_name="  Cy", last_name="<Di>  "),
        UserFactory(first_name="", last_name="", username="plain"),
    ]

    told = notifications.notify(
        [notifications.Message(person, kind, lead, context) for person in people]
    )

    assert len(told) == len(people)
    for row, person in zip(told, people, strict=True):
        named = {**context, "recipient_name": notifications.person(person)}
        assert (row.title, row.body) == notifications.render(kind, named)
        assert row.context == named


def test_the_notifications_page_costs_the_same_queries_for_10_or_200(client, rep):
    """The newest hundred, each with its lead's link and text: no query per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def notifications(count: int) -> None:
        Notification.objects.bulk_create(
            Notification(
                recipient=rep,
                kind=Notification.Kind.NEW_MQL,
                lead=LeadFactory(owner=rep),
                title=f"New MQL {i}",
                body="Accept or reject it.",
            )
            for i in range(count)
        )

    client.force_login(rep)
    notifications(10)
    with CaptureQueriesContext(connection) as few:
        page = client.get("/notifications/").content.decode()
    assert page.count("Open lead") == 10
    notifications(190)
    with CaptureQueriesContext(connection) as many:
        page = client.get("/notifications/").content.decode()

    assert page.count("Open lead") == 100  # the newest hundred
    assert len(few) == len(many)
