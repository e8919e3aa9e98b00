import os

from celery import Celery
from celery.signals import worker_process_init

from config.runtime import settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("handoff")
# every CELERY_* setting in config/settings.py configures the app
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _settle(**_) -> None:
    """A pool process is ready: see config.runtime."""
    settle()
