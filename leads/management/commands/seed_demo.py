import contextlib
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from leads import bulk_demo, demo
from leads.models import Lead
from qualification.models import CriteriaSet
from routing.models import Team


class Command(BaseCommand):
    help = (
        "Fill the database with demo users (password 'handoff-demo'), two criteria sets and "
        "a history of leads driven through the real services. Development only."
    )

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
        parser.add_argument(
            "--leads",
            type=int,
            default=480,
            help="How many demo leads. Up to 2000 go through the services one by one; more "
            "are written in bulk with PostgreSQL COPY (same story, same distributions).",
        )
        parser.add_argument("--months", type=int, default=12, help="History length in months.")

    def handle(self, *args, force=False, if_empty=False, leads=480, months=12, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with publicly known passwords and only runs with "
                "DEBUG on. Pass --force to run it anyway."
            )
        if leads < 0 or months < 1:
            raise CommandError("--leads must be 0 or more and --months at least 1.")
        if if_empty and get_user_model().objects.exists():
            self.stdout.write("Database already has users; demo data not loaded.")
            return
        started = time.monotonic()
        # All or nothing: a run stopped half-way (Ctrl-C during the first `make run`)
        # leaves an empty database, which the next `--if-empty` run fills, not a demo
        # with users and half its leads. (A bulk load's batches are committed by a writer
        # thread of their own as they go.)
        bulk = leads > bulk_demo.BULK_THRESHOLD
        with contextlib.nullcontext() if bulk else transaction.atomic():
            self._seed(leads=leads, months=months, started=started)

    def _seed(self, *, leads: int, months: int, started: float) -> None:
        with transaction.atomic():
            users = demo.create_users()
            if not CriteriaSet.objects.exists():
                demo.create_criteria()
            if not Team.objects.exists():
                demo.create_routing()
        if Lead.objects.exists():
            demo.set_demo_emails()
            self.stdout.write("Leads exist already; demo leads not added.")
            return

        def progress(done: int) -> None:
            if done % 50 == 0 or done == leads:
                width = 30
                filled = int(width * done / max(leads, 1))
                bar = "#" * filled + "." * (width - filled)
                self.stdout.write(f"  [{bar}] {done}/{leads} leads", ending="\r")
                self.stdout.flush()

        if leads > bulk_demo.BULK_THRESHOLD:
            try:
                rows = bulk_demo.create_leads_bulk(count=leads, months=months, progress=progress)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            demo.set_demo_emails()
            self.stdout.write("")
            counts = ", ".join(f"{n} {name}" for name, n in sorted(rows.items()))
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data loaded in {time.monotonic() - started:.0f} s: {counts}."
                )
            )
            return
        stats = demo.create_leads(count=leads, months=months, progress=progress)
        demo.set_demo_emails()
        demo.set_service_level_commitment()
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded in {time.monotonic() - started:.0f} s: {len(users)} users, "
                f"{stats.leads} leads, {stats.events} events, {stats.changes} stage changes."
            )
        )
