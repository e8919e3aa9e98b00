"""In-app notifications and their e-mails.

A notification row is written in the transaction of the change it reports (so a rolled
back transition tells nobody); its e-mail is queued after commit and sent by a Celery
task with retries, so a slow or failing mail server never blocks or undoes a transition.
Every text comes from a template triplet: templates/routing/email/<kind>_subject.txt,
_body.txt and _body.html, rendered from plain values (`Notification.context`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from leads.models import EngagementEvent, Lead
from leads.roles import MARKETING_OPS, SALES_MANAGER
from leads.stages import OPEN_STAGES

from .models import Notification

logger = logging.getLogger(__name__)

TOP_SCORE_LINES = 3
OTHER_LEADS_SHOWN = 5


@dataclass(frozen=True)
class Message:
    """One notification to write: `context` holds plain values only (it is stored)."""

    recipient: Any
    kind: str
    lead: Lead | None
    context: dict[str, Any]


def when(moment: dt.datetime | None, zone: Any = None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zone) if zone is not None else timezone.localtime(moment)
    return local.strftime("%a %d %b %Y, %H:%M %Z").strip()


def person(user: Any) -> str:
    return (user.get_full_name() or user.username) if user is not None else ""


def users_in_role(role: str) -> list[Any]:
    User = get_user_model()
    return list(User.objects.filter(groups__name=role, is_active=True).order_by("pk").distinct())


def marketing_ops() -> list[Any]:
    return users_in_role(MARKETING_OPS)


def sales_managers() -> list[Any]:
    return users_in_role(SALES_MANAGER)


def lead_context(lead: Lead) -> dict[str, Any]:
    account = lead.account if lead.account_id else None
    return {
        "lead_id": lead.pk,
        "lead_name": lead.name,
        "lead_email": lead.email,
        "lead_title": lead.title,
        "company": account.name if account else "",
        "stage": lead.get_stage_display(),
        "priority": lead.get_priority_display(),
        "source": lead.get_source_display(),
        "campaign": lead.campaign or lead.utm_campaign,
    }


def new_mql_context(
    lead: Lead, *, headline: str, explanation: list[str], due: str, now: dt.datetime
) -> dict[str, Any]:
    """What a rep needs for the first call: why it scored, the latest engagement, the
    account's other open leads, the source campaign, and why it came to them."""
    from leads.services import compute_score

    score = compute_score(lead, now)
    top = sorted(score.lines, key=lambda line: -line.points)[:TOP_SCORE_LINES]
    latest = EngagementEvent.objects.filter(lead=lead).first()
    others = []
    if lead.account_id:
        others = [
            f"{other.name} ({other.get_stage_display()}"
            + (f", {person(other.owner)})" if other.owner_id else ")")
            for other in Lead.objects.filter(
                account_id=lead.account_id, archived_at__isnull=True, stage__in=OPEN_STAGES
            )
            .exclude(pk=lead.pk)
            .select_related("owner")
            .order_by("-stage_entered_at", "-pk")[:OTHER_LEADS_SHOWN]
        ]
    return {
        **lead_context(lead),
        "headline": headline,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "score_lines": [f"{line.label}: {line.points:+d}" for line in top if line.points > 0],
        "fast_lane": lead.fast_lane_reason or lead.account_mql_reason,
        "latest_engagement": (
            f"{latest.get_kind_display()}, {when(latest.occurred_at)}" if latest else ""
        ),
        "other_open_leads": others,
        "explanation": explanation,
        "due": due,
    }


def _render(kind: str, part: str, context: dict[str, Any]) -> str:
    return render_to_string(f"routing/email/{kind}_{part}", context)


def render(kind: str, context: dict[str, Any]) -> tuple[str, str]:
    subject = " ".join(_render(kind, "subject.txt", context).split())
    body = _render(kind, "body.txt", context).strip() + "\n"
    return subject[:200], body


def notify(messages: Iterable[Message], *, at: dt.datetime | None = None) -> list[Notification]:
    """Write the notifications (one query for any number) and queue their e-mails after
    commit. Duplicate (recipient, kind, lead) messages in one call are sent once."""
    at = at or timezone.now()
    rows: list[Notification] = []
    seen: set[tuple[int, str, int | None]] = set()
    for message in messages:
        if message.recipient is None:
            continue
        key = (message.recipient.pk, message.kind, message.lead.pk if message.lead else None)
        if key in seen:
            continue
        seen.add(key)
        context = {**message.context, "recipient_name": person(message.recipient)}
        title, body = render(message.kind, context)
        rows.append(
            Notification(
                recipient=message.recipient,
                kind=message.kind,
                lead=message.lead,
                title=title,
                body=body,
                context=context,
                created_at=at,
            )
        )
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows)
    for row in created:
        if row.recipient.email:
            _queue_email(row.pk)
    return created


def _queue_email(notification_id: int) -> None:
    from .tasks import send_notification_email

    # robust: a broker outage after commit is logged, never raised into the request
    # that already committed its transition
    transaction.on_commit(lambda: send_notification_email.delay(notification_id), robust=True)


def send_email(notification_id: int) -> bool:
    """Send one notification's e-mail; True if sent now. A notification already e-mailed,
    gone, or without an address is skipped. A failure raises (the task retries)."""
    notification = (
        Notification.objects.select_related("recipient").filter(pk=notification_id).first()
    )
    if notification is None or notification.emailed_at is not None:
        return False
    address = notification.recipient.email
    if not address:
        return False
    html = _render(notification.kind, "body.html", notification.context)
    message = EmailMultiAlternatives(
        subject=notification.title, body=notification.body, to=[address]
    )
    message.attach_alternative(html, "text/html")
    message.send()
    Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    return True
