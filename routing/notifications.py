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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.template.loader import get_template, render_to_string
from django.utils import timezone
from django.utils.html import escape

from leads.bulk import insert_rows
from leads.models import EngagementEvent, Lead
from leads.roles import MARKETING_OPS, SALES_MANAGER
from leads.selectors import person_name as person
from leads.stages import OPEN_STAGES, STAGE_LABELS

from .models import Notification

logger = logging.getLogger(__name__)

TOP_SCORE_LINES = 3
# what a notification shows of another lead of the account (see new_mql_contexts): plain
# rows, the few owners read apiece (at a thousand new owners, building four thousand
# leads and their owners as models cost more than reading them)
SHOWN_FIELDS = ("pk", "account_id", "first_name", "last_name", "email", "stage", "owner_id")
OTHER_LEADS_SHOWN = 5
# stands for the recipient's name in a text rendered once for several recipients (no
# stored text can hold a NUL character, so it cannot be mistaken for one)
RECIPIENT = "\x00recipient\x00"


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


def users_in_role(role: str) -> list[Any]:
    User = get_user_model()
    return list(User.objects.filter(groups__name=role, is_active=True).order_by("pk").distinct())


def marketing_ops() -> list[Any]:
    return users_in_role(MARKETING_OPS)


def sales_managers() -> list[Any]:
    return users_in_role(SALES_MANAGER)


def _labels(name: str) -> dict[str, str]:
    """A lead field's choice labels, as its get_<name>_display reads them (looked up in
    a dict here: the sweep tells thousands of leads, and each get_*_display call builds
    its choices again)."""
    return {str(value): str(label) for value, label in Lead._meta.get_field(name).flatchoices}


_PRIORITY, _SOURCE = _labels("priority"), _labels("source")


def lead_context(lead: Lead) -> dict[str, Any]:
    account = lead.account if lead.account_id else None
    return {
        "lead_id": lead.pk,
        "lead_name": lead.name,
        "lead_email": lead.email,
        "lead_title": lead.title,
        "company": account.name if account else "",
        "stage": STAGE_LABELS.get(lead.stage, lead.stage),
        "priority": _PRIORITY.get(lead.priority, lead.priority),
        "source": _SOURCE.get(lead.source, lead.source),
        "campaign": lead.campaign or lead.utm_campaign,
    }


@dataclass(frozen=True)
class NewOwner:
    """What a new owner is told about a lead (see new_mql_contexts)."""

    lead: Lead
    headline: str
    explanation: list[str]
    due: str
    # whether the account's other open leads are shown (a new MQL's notification; a
    # reassignment's does not show them, so they are not read for it)
    other_leads: bool = True


def new_mql_contexts(entries: Sequence[NewOwner], *, now: dt.datetime) -> list[dict[str, Any]]:
    """What a rep needs for the first call: why it scored, the latest engagement, the
    account's other open leads, the source campaign, and why it came to them. At most one
    read of the leads' events (none for leads just scored at `now`: leads.services.
    scores_at) and one of their accounts' open leads, however many leads."""
    from leads.services import scores_at

    if not entries:
        return []
    leads = [entry.lead for entry in entries]
    scores = scores_at(leads, now)
    accounts = {entry.lead.account_id for entry in entries if entry.other_leads} - {None}
    others: dict[int, list[tuple[int, str]]] = {}  # account: (lead pk, how it is shown)
    if accounts:
        # the newest few open leads of each account (one more: the lead itself may be one)
        ranked = (
            Lead.objects.filter(
                account_id__in=accounts, archived_at__isnull=True, stage__in=OPEN_STAGES
            )
            .annotate(
                rank=Window(
                    RowNumber(),
                    partition_by=[F("account_id")],
                    order_by=[F("stage_entered_at").desc(), F("pk").desc()],
                )
            )
            .filter(rank__lte=OTHER_LEADS_SHOWN + 1)
            .order_by("account_id", "rank")
            .values_list(*SHOWN_FIELDS, named=True)
        )
        rows = list(ranked)
        owners = get_user_model().objects.in_bulk({row.owner_id for row in rows if row.owner_id})
        for row in rows:
            shown = f"{Lead.name.fget(row)} ({STAGE_LABELS.get(row.stage, row.stage)}" + (
                f", {person(owners[row.owner_id])})" if row.owner_id else ")"
            )
            others.setdefault(row.account_id, []).append((row.pk, shown))
    contexts = []
    for entry in entries:
        lead = entry.lead
        history, score = scores[lead.pk]
        top = sorted(score.lines, key=lambda line: -line.points)[:TOP_SCORE_LINES]
        latest = history[0] if history else None
        shown = [
            line
            for pk, line in (others.get(lead.account_id, []) if entry.other_leads else [])
            if pk != lead.pk
        ]
        contexts.append(
            {
                **lead_context(lead),
                "headline": entry.headline,
                "fit_score": lead.fit_score,
                "engagement_score": lead.engagement_score,
                "score_lines": [
                    f"{line.label}: {line.points:+d}" for line in top if line.points > 0
                ],
                "fast_lane": lead.fast_lane_reason or lead.account_mql_reason,
                "latest_engagement": (
                    f"{EngagementEvent.Kind(latest.kind).label}, {when(latest.occurred_at)}"
                    if latest
                    else ""
                ),
                "other_open_leads": shown[:OTHER_LEADS_SHOWN],
                "explanation": entry.explanation,
                "due": entry.due,
            }
        )
    return contexts


def _render(kind: str, part: str, context: dict[str, Any], templates: dict | None = None) -> str:
    name = f"routing/email/{kind}_{part}"
    if templates is None:
        return render_to_string(name, context)
    # a batch of notifications looks each template up once
    if name not in templates:
        templates[name] = get_template(name)
    return templates[name].render(context)


def render(kind: str, context: dict[str, Any], templates: dict | None = None) -> tuple[str, str]:
    subject = " ".join(_render(kind, "subject.txt", context, templates).split())
    body = _render(kind, "body.txt", context, templates).strip() + "\n"
    return subject[:200], body


def _names_plainly(title: str, body: str, name: str, named: str) -> bool:
    """Whether the text rendered once with RECIPIENT for the name (`title`, `body`),
    with `name` put in (`named`), reads as rendering it with the name would: not if the
    name would be escaped, or went through a filter (a NUL is left), or stands in the
    subject (squeezed and cut at 200 characters) or at either end of the body (stripped).
    Else the caller renders the text for this recipient."""
    return (
        escape(name) == name
        and "\x00" not in named
        and RECIPIENT not in title
        and not body.startswith(RECIPIENT)
        and not body.rstrip("\n").endswith(RECIPIENT)
    )


def notify(messages: Iterable[Message], *, at: dt.datetime | None = None) -> list[Notification]:
    """Write the notifications (one query for any number) and queue their e-mails after
    commit. Duplicate (recipient, kind, lead) messages in one call are sent once.

    Messages that share one context object (a breach told to the owner and the manager)
    are rendered once, with RECIPIENT for the name, which each copy then replaces."""
    at = at or timezone.now()
    rows: list[Notification] = []
    seen: set[tuple[int, str, int | None]] = set()
    templates: dict[str, Any] = {}
    # (kind, id of the shared context) -> (the context, kept alive so that its id is not
    # reused, and its title and body with RECIPIENT for the name)
    shared: dict[tuple[str, int], tuple[dict[str, Any], str, str]] = {}
    for message in messages:
        if message.recipient is None:
            continue
        key = (message.recipient.pk, message.kind, message.lead.pk if message.lead else None)
        if key in seen:
            continue
        seen.add(key)
        name = person(message.recipient)
        context = {**message.context, "recipient_name": name}
        once = (message.kind, id(message.context))
        if once not in shared:
            title, body = render(
                message.kind, {**message.context, "recipient_name": RECIPIENT}, templates
            )
            shared[once] = (message.context, title, body)
        _, shared_title, shared_body = shared[once]
        title = shared_title.replace(RECIPIENT, name)
        body = shared_body.replace(RECIPIENT, name)
        if not _names_plainly(shared_title, shared_body, name, body):
            title, body = render(message.kind, context, templates)
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
    created = insert_rows(rows)
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
