"""Celery adapters: take ids or nothing, call one function, own retries and limits."""

from smtplib import SMTPException

from celery import shared_task
from django.utils import timezone

from . import notifications, sla, webhooks


@shared_task(name="routing.sweep_sla", soft_time_limit=240, time_limit=300)
def sweep_sla() -> dict[str, int]:
    """Every minute (CELERY_BEAT_SCHEDULE["sla-sweep"]). Safe to overlap with itself."""
    return sla.sweep(timezone.now()).as_dict()


@shared_task(
    name="routing.send_notification_email",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def send_notification_email(notification_id: int) -> bool:
    return notifications.send_email(notification_id)


@shared_task(
    name="routing.deliver_webhook",
    bind=True,
    autoretry_for=(webhooks.DeliveryFailed,),
    retry_backoff=30,  # 30 s, 1 min, 2 min, ... up to an hour between tries
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def deliver_webhook(self, delivery_id: int) -> bool:
    return webhooks.deliver(delivery_id, final=self.request.retries >= self.max_retries)
