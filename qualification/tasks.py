from celery import shared_task

from leads import services


@shared_task(name="qualification.refresh_engagement_scores", soft_time_limit=3000, time_limit=3300)
def refresh_engagement_scores() -> int:
    """Nightly: engagement decays with time, so stored scores are refreshed in batches."""
    return services.refresh_decayed_scores()
