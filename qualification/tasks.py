from celery import shared_task

from leads import services
from leads.models import Lead


@shared_task(name="qualification.refresh_engagement_scores", soft_time_limit=3000, time_limit=3300)
def refresh_engagement_scores() -> int:
    """Nightly: engagement decays with time, so every open lead is rescored in batches
    (with whether it could be handed over)."""
    return services.rescore(Lead.objects.all())
