from django.core.management.base import BaseCommand
from django.utils import timezone

from routing import sla


class Command(BaseCommand):
    help = (
        "Warn, breach and escalate due SLA clocks and bring back nurtured leads whose "
        "follow-up date has come. For cron users; Celery beat runs the same every minute."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=sla.BATCH_SIZE)

    def handle(self, *args, batch_size: int, **options):
        result = sla.sweep(timezone.now(), batch_size=batch_size)
        summary = ", ".join(f"{name} {count}" for name, count in result.as_dict().items())
        self.stdout.write(f"SLA sweep: {summary}")
