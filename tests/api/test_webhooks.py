"""Outbound webhooks: which changes produce which events, the signature, delivery to a
receiver on loopback with retries, and the delivery log."""

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config.celery import app
from leads import services
from leads.stages import Stage
from routing import sla, tasks, webhooks
from routing.models import WebhookDelivery, WebhookSubscription
from tests.factories import LeadFactory, SlaPolicyFactory, TeamFactory
from tests.routing.conftest import MONDAY_10, make_mql

ALL_EVENTS = list(WebhookSubscription.EventType.values)


class Receiver:
    """What a CRM's endpoint saw; `statuses` are its next answers (then 200)."""

    def __init__(self):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.url = ""


@pytest.fixture
def receiver():
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = received.statuses.pop(0) if received.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_port}/hooks/handoff"
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture
def queued(monkeypatch):
    """Deliveries queued after commit, collected instead of sent through Redis."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.deliver_webhook, "delay", ids.append)
    return ids


def subscribe(url="http://127.0.0.1:9/unused", events=ALL_EVENTS, **kwargs):
    return WebhookSubscription.objects.create(
        name="CRM", url=url, event_types=events, secret="s3cret-for-tests", **kwargs
    )


# --- the signature ---------------------------------------------------------------------------


def test_a_receiver_verifies_the_signature_over_timestamp_and_body():
    body = b'{"type":"lead.assigned"}'
    now = 1_770_000_000
    signature = webhooks.sign("secret", now, body)

    assert signature.startswith("sha256=")
    assert webhooks.verify(
        "secret", timestamp=str(now), signature=signature, body=body, now=now + 10
    )
    assert not webhooks.verify(
        "secret", timestamp=str(now), signature=signature, body=body + b" ", now=now
    )
    assert not webhooks.verify("other", timestamp=str(now), signature=signature, body=body, now=now)
    assert not webhooks.verify(  # replayed later: the timestamp is part of what was signed
        "secret", timestamp=str(now), signature=signature, body=body, now=now + 3600
    )
    assert not webhooks.verify("secret", timestamp="x", signature=signature, body=body)


# --- which changes produce which events --------------------------------------------------------


@pytest.mark.django_db
def test_a_transition_is_told_once_it_commits(rep, queued, django_capture_on_commit_callbacks):
    hook = subscribe(events=["lead.stage_changed"])
    subscribe(events=["sla.breached"])  # not interested
    lead = LeadFactory(stage=Stage.MQL, owner=rep)

    with django_capture_on_commit_callbacks(execute=True):
        change = services.accept(lead=lead, by=rep)

    delivery = WebhookDelivery.objects.get()
    assert queued == [delivery.pk]
    assert delivery.subscription == hook
    assert delivery.event_type == "lead.stage_changed"
    data = delivery.payload["data"]
    assert delivery.payload["type"] == "lead.stage_changed"
    assert delivery.payload["id"] == str(delivery.event_id)
    assert data["lead"]["id"] == lead.pk and data["lead"]["owner"]["username"] == rep.username
    assert data["change"] == {
        "id": change.pk,
        "at": change.at.isoformat(),
        "transition": "accept",
        "from_stage": "mql",
        "to_stage": "accepted",
        "actor": {
            "id": rep.pk,
            "username": rep.username,
            "name": rep.get_full_name(),
            "email": rep.email,
        },
        "reason": None,
        "note": "",
    }


@pytest.mark.django_db
def test_a_refused_transition_tells_nobody(
    rep, other_rep, queued, django_capture_on_commit_callbacks
):
    subscribe()
    lead = LeadFactory(stage=Stage.MQL, owner=other_rep)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(services.LeadActionRefused),
    ):
        services.accept(lead=lead, by=rep)

    assert callbacks == [] and queued == []
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_an_inactive_subscription_hears_nothing(rep, queued, django_capture_on_commit_callbacks):
    subscribe(active=False)

    with django_capture_on_commit_callbacks(execute=True):
        services.accept(lead=LeadFactory(stage=Stage.MQL, owner=rep), by=rep)

    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_new_mql_is_told_as_a_stage_change_and_an_assignment(
    rep, manager, queued, django_capture_on_commit_callbacks
):
    subscribe()
    TeamFactory(reps=[rep], manager=manager, is_default=True)

    with django_capture_on_commit_callbacks(execute=True):
        services.qualify_mql(lead=LeadFactory(stage=Stage.ENGAGED))

    by_type = {d.event_type: d.payload["data"] for d in WebhookDelivery.objects.all()}
    assert set(by_type) == {"lead.stage_changed", "lead.assigned"}
    assert by_type["lead.assigned"]["assignment"]["owner"]["username"] == rep.username
    assert by_type["lead.assigned"]["assignment"]["kind"] == "rule"
    assert by_type["lead.assigned"]["assignment"]["explanation"]
    assert len(queued) == 2


@pytest.mark.django_db
def test_the_sweep_tells_sla_warnings_and_breaches(
    rep, manager, queued, django_capture_on_commit_callbacks
):
    subscribe(events=["sla.warned", "sla.breached"])
    TeamFactory(reps=[rep], manager=manager, is_default=True)
    SlaPolicyFactory(decision_minutes=60, warning_percent=50)
    warned = make_mql(when=MONDAY_10)
    breached = make_mql(when=MONDAY_10 - dt.timedelta(hours=2))

    with django_capture_on_commit_callbacks(execute=True):
        sla.sweep(MONDAY_10 + dt.timedelta(minutes=40))

    events = {
        (d.event_type, d.payload["data"]["lead"]["id"]) for d in WebhookDelivery.objects.all()
    }
    assert events == {("sla.warned", warned.pk), ("sla.breached", breached.pk)}
    clock = WebhookDelivery.objects.get(event_type="sla.breached").payload["data"]["clock"]
    assert clock["kind"] == "decision" and clock["breached_at"] is not None


# --- delivery --------------------------------------------------------------------------------


def a_delivery(url) -> WebhookDelivery:
    hook = subscribe(url=url)
    return WebhookDelivery.objects.create(
        subscription=hook,
        event_id="6f1c1b0e-0000-4000-8000-000000000001",
        event_type="lead.assigned",
        payload={"id": "6f1c1b0e-0000-4000-8000-000000000001", "type": "lead.assigned"},
    )


@pytest.mark.django_db
def test_a_delivery_is_signed_and_logged(receiver):
    delivery = a_delivery(receiver.url)

    assert webhooks.deliver(delivery.pk) is True

    ((headers, body),) = receiver.requests
    assert json.loads(body) == delivery.payload
    assert headers["content-type"] == "application/json"
    assert headers["x-handoff-event"] == str(delivery.event_id)
    assert headers["x-handoff-event-type"] == "lead.assigned"
    assert webhooks.verify(
        "s3cret-for-tests",
        timestamp=headers["x-handoff-timestamp"],
        signature=headers["x-handoff-signature"],
        body=body,
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    assert webhooks.deliver(delivery.pk) is False  # never twice once delivered
    assert len(receiver.requests) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [500, 404, 302])
def test_a_non_2xx_answer_is_a_failure_to_retry(receiver, status):
    receiver.statuses = [status]
    delivery = a_delivery(receiver.url)

    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.deliver(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status) == ("retrying", status)
    assert len(receiver.requests) == 1  # a redirect is not followed


@pytest.mark.django_db
def test_an_unreachable_receiver_is_logged_and_the_last_try_gives_up():
    delivery = a_delivery("http://127.0.0.1:9/nobody-listens")

    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.deliver(delivery.pk, final=True)

    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.response_status is None
    assert "Connection refused" in delivery.error or "URLError" in delivery.error


@pytest.mark.django_db
def test_the_task_retries_until_the_receiver_answers(receiver):
    receiver.statuses = [500, 503]
    delivery = a_delivery(receiver.url)

    tasks.deliver_webhook.apply(args=[delivery.pk])  # eager: retries run at once

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert len(receiver.requests) == 3
    assert tasks.deliver_webhook.retry_backoff == 30
    assert tasks.deliver_webhook.max_retries == 8


@pytest.mark.django_db
def test_a_delivery_of_a_deactivated_subscription_is_cancelled(receiver):
    delivery = a_delivery(receiver.url)
    WebhookSubscription.objects.update(active=False)

    assert webhooks.deliver(delivery.pk) is False

    delivery.refresh_from_db()
    assert delivery.status == "cancelled" and receiver.requests == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_transition_reaches_the_receiver_through_a_real_worker(receiver, rep):
    subscribe(url=receiver.url, events=["lead.stage_changed"])
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    app.control.purge()

    from celery.contrib.testing.worker import start_worker

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        services.accept(lead=lead, by=rep)  # commits: the delivery is queued after commit
        deadline = time.monotonic() + 20
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.1)

    ((_, body),) = receiver.requests
    assert json.loads(body)["data"]["change"]["to_stage"] == "accepted"
    assert WebhookDelivery.objects.get().status == "delivered"


# --- the admin --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_marketing_manages_subscriptions_in_the_admin(client, marketing):
    client.force_login(marketing)

    response = client.post(
        "/admin/routing/webhooksubscription/add/",
        {
            "name": "Sales chat",
            "url": "https://chat.example/hooks/handoff",
            "event_types": ["lead.assigned", "sla.breached"],
            "secret": "a-long-shared-secret",
            "active": "on",
        },
    )

    assert response.status_code == 302
    hook = WebhookSubscription.objects.get()
    assert hook.event_types == ["lead.assigned", "sla.breached"]
    assert client.get("/admin/routing/webhookdelivery/").status_code == 200
    assert client.get("/admin/routing/webhookdelivery/add/").status_code == 403


@pytest.mark.django_db
def test_a_new_subscription_gets_a_random_secret():
    one, two = subscribe(), WebhookSubscription.objects.create(name="B", url="https://b.example/")

    assert len(two.secret) >= 40 and two.secret != one.secret
