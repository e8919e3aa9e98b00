"""Outbound webhooks: lifecycle events told to CRMs and chat tools.

Producers call `queue_event(type, *ids)` inside the transaction of the change. Nothing
happens unless that transaction commits; then the subscriptions that want the event get
one WebhookDelivery row each (the delivery log) and a Celery task posts it
(routing.tasks.deliver_webhook), retrying with exponential backoff. Delivery is at least
once: receivers deduplicate on the X-Handoff-Event header (the event's id).

Every request is signed: X-Handoff-Signature is "sha256=" + the hex HMAC-SHA256, keyed
with the subscription's secret, of "<X-Handoff-Timestamp>.<raw body>" (see `verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from leads.bulk import insert_rows
from leads.models import Lead, StageChange

from .models import Assignment, SlaClock, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

EventType = WebhookSubscription.EventType
STAGE_CHANGED = EventType.STAGE_CHANGED.value
LEAD_ASSIGNED = EventType.LEAD_ASSIGNED.value
SLA_WARNED = EventType.SLA_WARNED.value
SLA_BREACHED = EventType.SLA_BREACHED.value

TIMEOUT_SECONDS = 10
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "handoff-webhooks/1"


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx; the task retries."""


# --- signing ---------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    *,
    timestamp: str,
    signature: str,
    body: bytes,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse old timestamps
    (a captured request replayed later)."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except (TypeError, ValueError):
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


# --- producing events ----------------------------------------------------------------------


def queue_event(event_type: str, *ids: int) -> None:
    """Called in the transaction of a change: tell subscribers once it commits. Robust: a
    failure then is logged, never raised into the change that already committed.

    One small query here, so that without a subscriber for the event nothing at all is
    scheduled (most installations, and every lifecycle test)."""
    if ids and _subscribers(event_type):
        transaction.on_commit(partial(emit, event_type, list(ids)), robust=True)


def _subscribers(event_type: str) -> list[WebhookSubscription]:
    # a handful of rows; filtered here because SQLite (the quick start) has no JSON contains
    return [s for s in WebhookSubscription.objects.filter(active=True) if s.wants(event_type)]


def emit(event_type: str, ids: list[int]) -> list[WebhookDelivery]:
    """Write one delivery per subscriber and event, and queue them."""
    subscribers = _subscribers(event_type)
    if not subscribers:
        return []
    now = timezone.now()
    rows = []
    for data in PAYLOADS[event_type](ids):
        event_id = uuid.uuid4()
        payload = {
            "id": str(event_id),
            "type": event_type,
            "created_at": now.isoformat(),
            "data": data,
        }
        rows += [
            WebhookDelivery(
                subscription=s,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                created_at=now,
            )
            for s in subscribers
        ]
    created = insert_rows(rows)
    for row in created:
        _queue_delivery(row.pk)
    return created


def _queue_delivery(delivery_id: int) -> None:
    from .tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(delivery_id), robust=True)


# --- payloads: plain values as of emission --------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _user(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.get_full_name() or user.username,
        "email": user.email,
    }


def _lead(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "email": lead.email,
        "name": lead.name,
        "company": lead.account.name if lead.account_id else "",
        "stage": lead.stage,
        "priority": lead.priority,
        "source": lead.source,
        "owner": _user(lead.owner),
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
    }


LEAD_RELATIONS = ("lead__account", "lead__owner")


def _stage_changes(ids: list[int]) -> list[dict[str, Any]]:
    changes = StageChange.objects.filter(pk__in=ids).select_related(
        *LEAD_RELATIONS, "actor", "reason"
    )
    return [
        {
            "lead": _lead(c.lead),
            "change": {
                "id": c.pk,
                "at": _iso(c.at),
                "transition": c.transition,
                "from_stage": c.from_stage,
                "to_stage": c.to_stage,
                "actor": _user(c.actor),
                "reason": c.reason.code if c.reason_id else None,
                "note": c.note,
            },
        }
        for c in changes.order_by("at", "pk")
    ]


def _assignments(ids: list[int]) -> list[dict[str, Any]]:
    rows = Assignment.objects.filter(pk__in=ids).select_related(
        *LEAD_RELATIONS, "owner", "previous_owner", "team", "by"
    )
    return [
        {
            "lead": _lead(a.lead),
            "assignment": {
                "id": a.pk,
                "at": _iso(a.at),
                "kind": a.kind,
                "owner": _user(a.owner),
                "previous_owner": _user(a.previous_owner),
                "team": a.team.name if a.team_id else None,
                "by": _user(a.by),
                "explanation": a.explanation,
            },
        }
        for a in rows.order_by("at", "pk")
    ]


def _clocks(ids: list[int]) -> list[dict[str, Any]]:
    clocks = SlaClock.objects.filter(pk__in=ids).select_related(*LEAD_RELATIONS, "owner", "policy")
    return [
        {
            "lead": _lead(c.lead),
            "clock": {
                "id": c.pk,
                "kind": c.kind,
                "owner": _user(c.owner),
                "policy": c.policy.name,
                "started_at": _iso(c.started_at),
                "due_at": _iso(c.due_at),
                "warned_at": _iso(c.warned_at),
                "breached_at": _iso(c.breached_at),
            },
        }
        for c in clocks.order_by("pk")
    ]


PAYLOADS = {
    STAGE_CHANGED: _stage_changes,
    LEAD_ASSIGNED: _assignments,
    SLA_WARNED: _clocks,
    SLA_BREACHED: _clocks,
}


# --- delivering -----------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # a redirect is a misconfigured URL: report it, do not send the payload elsewhere
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{exc.__class__.__name__}: {exc}"


def deliver(delivery_id: int, *, final: bool = False) -> bool:
    """Post one delivery; True if delivered now. Raises DeliveryFailed on a non-2xx answer
    or a network error (the task retries); with `final`, the failure is recorded as
    given up. Gone, delivered or cancelled deliveries are skipped."""
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (
        WebhookDelivery.Status.DELIVERED,
        WebhookDelivery.Status.CANCELLED,
    ):
        return False
    subscription = delivery.subscription
    if not subscription.active:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.CANCELLED
        )
        return False
    body = body_of(delivery)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Handoff-Event": str(delivery.event_id),
        "X-Handoff-Event-Type": delivery.event_type,
        "X-Handoff-Delivery": str(delivery.pk),
        "X-Handoff-Timestamp": timestamp,
        "X-Handoff-Signature": sign(subscription.secret, timestamp, body),
    }
    status_code, problem = _post(subscription.url, body, headers)
    ok = status_code is not None and 200 <= status_code < 300
    now = timezone.now()
    if ok:
        state = WebhookDelivery.Status.DELIVERED
    else:
        state = WebhookDelivery.Status.FAILED if final else WebhookDelivery.Status.RETRYING
    delivery.attempts += 1
    delivery.status = state
    delivery.response_status = status_code
    delivery.error = problem[:1000]
    delivery.last_attempt_at = now
    delivery.delivered_at = now if ok else None
    delivery.save(
        update_fields=[
            "attempts",
            "status",
            "response_status",
            "error",
            "last_attempt_at",
            "delivered_at",
        ]
    )
    if not ok:
        raise DeliveryFailed(f"{subscription.url}: {problem or status_code}")
    return True
