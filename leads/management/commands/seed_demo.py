from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from leads import demo


class Command(BaseCommand):
    help = "Fill the database with demo users (one per role) and demo data. Development only."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (creates users with publicly known passwords).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already has users (used by `make run`).",
        )

    def handle(self, *args, force: bool = False, if_empty: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with publicly known passwords and only runs with "
                "DEBUG on. Pass --force to run it anyway."
            )
        if if_empty and get_user_model().objects.exists():
            self.stdout.write("Database already has users; demo data not loaded.")
            return
        with transaction.atomic():
            users = demo.create_users()
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {len(users)} users."))
