"""Who gets a lead (teams, routing rules, availability, the assignment record) and how
long they have to act on it (calendars, SLA policies, clocks), plus in-app notifications.

State only: the flow lives in routing/services.py (assignment), routing/sla.py (clocks
and the sweep) and routing/notifications.py.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leads.models import Account, Lead

from .business_time import Calendar

# --- teams and routing ------------------------------------------------------------------


class Team(models.Model):
    name = models.CharField(max_length=120, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="managed_teams",
        help_text="Takes leads nobody in the team can take, and disputed rejections.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams", blank=True
    )
    max_open_leads = models.PositiveIntegerField(
        default=25,
        validators=[MinValueValidator(1)],
        help_text="Capacity of each rep: open MQL + accepted leads. A member's own limit, "
        "when set, overrides it.",
    )
    is_default = models.BooleanField(
        default=False, help_text="Takes every lead no routing rule matches."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_team"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    weight = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Share of the team's leads: a rep with weight 2 gets twice as many as weight 1.",
    )
    max_open_leads = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="This rep's capacity in this team; empty: the team's.",
    )
    active = models.BooleanField(default=True)
    # Smooth weighted round robin state, read and written only with the team row locked
    # (routing.assignment.pick_member).
    current_weight = models.IntegerField(default=0, editable=False)

    class Meta:
        ordering = ["team", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} (weight {self.weight})"

    @property
    def capacity(self) -> int:
        return self.max_open_leads or self.team.max_open_leads


class OutOfOffice(models.Model):
    """A period in which a rep gets no new leads (both dates included)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="out_of_office"
    )
    unavailable_from = models.DateField()
    unavailable_to = models.DateField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-unavailable_from", "pk"]
        verbose_name = "out-of-office period"
        indexes = [models.Index(fields=["user", "unavailable_to"], name="ooo_user_to")]
        constraints = [
            models.CheckConstraint(
                condition=Q(unavailable_to__gte=models.F("unavailable_from")),
                name="ooo_period_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.unavailable_from} to {self.unavailable_to}"

    def clean(self) -> None:
        if (
            self.unavailable_from
            and self.unavailable_to
            and self.unavailable_to < self.unavailable_from
        ):
            raise ValidationError({"unavailable_to": "The period must end on or after its start."})


class RoutingRule(models.Model):
    """Conditions on the lead; every blank condition matches anything. Rules are tried in
    `order`; the first active match wins, and the default team takes the rest."""

    name = models.CharField(max_length=120)
    order = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    countries = models.CharField(
        max_length=200,
        blank=True,
        help_text="ISO codes separated by commas, e.g. 'DE, AT, CH'. Empty: any country.",
    )
    region = models.CharField(max_length=40, blank=True)
    segment = models.CharField(max_length=20, choices=Account.Segment.choices, blank=True)
    industry = models.CharField(max_length=80, blank=True)
    product_line = models.ForeignKey(
        "qualification.ProductLine", null=True, blank=True, on_delete=models.PROTECT
    )
    source = models.CharField(
        "source channel", max_length=20, choices=Lead.Source.choices, blank=True
    )
    employees_min = models.PositiveIntegerField(null=True, blank=True)
    employees_max = models.PositiveIntegerField(null=True, blank=True)
    priority = models.CharField(max_length=10, choices=Lead.Priority.choices, blank=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="rules")

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (
            self.employees_min is not None
            and self.employees_max is not None
            and self.employees_min > self.employees_max
        ):
            raise ValidationError(
                {"employees_max": "The employee range must end at or above its start."}
            )
        self.countries = ", ".join(self.country_list())

    def country_list(self) -> list[str]:
        parts = self.countries.replace(";", ",").replace(" ", ",").split(",")
        return [p.strip().upper() for p in parts if p.strip()]


class Assignment(models.Model):
    """Who got a lead, how, and why: "why did I get this?" has an answer. Append-only."""

    class Kind(models.TextChoices):
        RULE = "rule", "Routed by rule"
        ACCOUNT = "account", "Account match"
        MANAGER = "manager", "Nobody available: team manager"
        UNASSIGNED = "unassigned", "Nobody to assign"
        FOLLOW_UP = "follow_up", "Back to its owner"
        DISPUTE = "dispute", "Disputed rejection: team manager"
        MANUAL = "manual", "Reassigned by a manager"
        SLA = "sla", "Reassigned after an SLA breach"

    # no index of its own: assignment_lead_at (lead first) serves every lookup by lead
    lead = models.ForeignKey(
        Lead, on_delete=models.PROTECT, related_name="assignments", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lead_assignments",
    )
    previous_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="assignments"
    )
    # Rules are edited and deleted; the explanation keeps what the rule said.
    rule = models.ForeignKey(
        RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    explanation = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    mql_cycle = models.PositiveSmallIntegerField(default=0)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: handoff routed the lead itself.",
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["lead", "-at"], name="assignment_lead_at")]

    def __str__(self) -> str:
        return f"{self.lead_id} → {self.owner or 'nobody'} ({self.get_kind_display()})"


# --- SLA -------------------------------------------------------------------------------


def monday_to_friday() -> list[int]:
    return [0, 1, 2, 3, 4]


class BusinessCalendar(models.Model):
    WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

    name = models.CharField(max_length=120, unique=True)
    time_zone = models.CharField(max_length=60, default="Europe/Berlin", help_text="IANA name")
    working_days = models.JSONField(
        default=monday_to_friday,
        help_text="0 = Monday … 6 = Sunday, e.g. [0, 1, 2, 3, 4] for Monday to Friday.",
    )
    start = models.TimeField(default=dt.time(9))
    end = models.TimeField(default=dt.time(17))

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            self.as_calendar(holidays=())
        except (TypeError, ValueError) as exc:
            raise ValidationError(str(exc)) from exc

    def as_calendar(self, holidays=None) -> Calendar:
        """The pure form routing.business_time computes with. Prefetch `holidays`."""
        if holidays is None:
            holidays = [h.date for h in self.holidays.all()]
        return Calendar(
            time_zone=self.time_zone,
            working_days=frozenset(int(d) for d in self.working_days or ()),
            start=self.start,
            end=self.end,
            holidays=frozenset(holidays),
        )


class Holiday(models.Model):
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="one_holiday_per_date"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class ClockKind(models.TextChoices):
    DECISION = "decision", "Decision (accept or reject)"
    FIRST_TOUCH = "first_touch", "First touch"
    QUALIFICATION = "qualification", "Qualification"
    DISPOSITION = "disposition", "Disposition (marketing)"


# Lead lists name a clock in one or two words (the full label is its tooltip), so that a
# row's actions fit beside it on a laptop's screen.
CLOCK_SHORT_LABELS = {
    ClockKind.DECISION: "Decision",
    ClockKind.FIRST_TOUCH: "First touch",
    ClockKind.QUALIFICATION: "Qualification",
    ClockKind.DISPOSITION: "Disposition",
}


class SlaPolicy(models.Model):
    class BreachAction(models.TextChoices):
        NOTIFY = "notify", "Notify owner and manager only"
        REASSIGN = "reassign", "Reassign to the next rep"
        RETURN = "return_to_marketing", "Return to marketing as a rejection"

    name = models.CharField(max_length=120)
    priority = models.CharField(max_length=10, choices=Lead.Priority.choices)
    source = models.CharField(
        "source channel",
        max_length=20,
        choices=Lead.Source.choices,
        blank=True,
        help_text="Empty: any channel. A policy for the lead's channel wins over one for any.",
    )
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    # Targets in business minutes; empty: that clock does not run under this policy.
    decision_minutes = models.PositiveIntegerField(null=True, blank=True)
    first_touch_minutes = models.PositiveIntegerField(null=True, blank=True)
    qualification_minutes = models.PositiveIntegerField(null=True, blank=True)
    disposition_minutes = models.PositiveIntegerField(null=True, blank=True)
    warning_percent = models.PositiveSmallIntegerField(
        default=75,
        validators=[MaxValueValidator(99)],
        help_text="Warn the owner when this share of the target has passed; 0: no warning.",
    )
    breach_action = models.CharField(
        max_length=20,
        choices=BreachAction.choices,
        default=BreachAction.NOTIFY,
        help_text="Applies to an undecided MQL (decision clock); 'reassign' also to a missed "
        "first touch. Other clocks notify.",
    )
    max_reassignments = models.PositiveSmallIntegerField(
        default=1,
        help_text="Reassign at most this often per MQL cycle; after that (or when nobody "
        "else can take it) an undecided MQL returns to marketing.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "source", "name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["priority", "source"],
                condition=Q(active=True),
                name="one_active_sla_policy_per_priority_and_source",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def target(self, kind: str) -> dt.timedelta | None:
        minutes = getattr(self, f"{kind}_minutes")
        return None if minutes is None else dt.timedelta(minutes=minutes)


class SlaClock(models.Model):
    """One clock on one lead. At most one running clock per lead and kind; the sweep
    finds due and warning clocks through the partial indexes on running clocks."""

    Kind = ClockKind

    class Outcome(models.TextChoices):
        MET = "met", "Met"
        BREACHED = "breached", "Breached"
        REASSIGNED = "reassigned", "Handed over before due"

    # no index of its own: sla_clock_lead_kind (lead first) serves every lookup by lead
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="sla_clocks", db_index=False
    )
    kind = models.CharField(max_length=20, choices=ClockKind.choices)
    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, related_name="clocks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sla_clocks",
        help_text="Who the clock ran for (empty: marketing).",
    )
    target = models.DurationField(help_text="Business time allowed.")
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.CharField(
        max_length=30, blank=True, help_text="The transition, 'touch' or 'reassigned'."
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    business_time = models.DurationField(
        null=True, blank=True, help_text="Business time to act, once stopped."
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = "SLA clock"
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "kind"],
                condition=Q(stopped_at__isnull=True),
                name="one_running_clock_per_lead_and_kind",
            ),
        ]
        indexes = [
            # the sweep relies on these two partial indexes to skip stopped clocks and
            # clocks already warned or breached
            models.Index(
                fields=["due_at"],
                condition=Q(stopped_at__isnull=True, breached_at__isnull=True),
                name="sla_clock_running_due",
            ),
            models.Index(
                fields=["warn_at"],
                condition=Q(stopped_at__isnull=True, warned_at__isnull=True),
                name="sla_clock_running_warn",
            ),
            models.Index(fields=["lead", "kind"], name="sla_clock_lead_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.lead_id}"

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None


# --- notifications ---------------------------------------------------------------------


class Notification(models.Model):
    class Kind(models.TextChoices):
        NEW_MQL = "new_mql", "New MQL assigned"
        SLA_WARNING = "sla_warning", "SLA warning"
        SLA_BREACH = "sla_breach", "SLA breach"
        REASSIGNED = "reassigned", "Reassignment"
        LEAD_REJECTED = "lead_rejected", "Lead rejected"

    # no index of its own: notification_recipient (recipient first) serves every lookup
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # Plain values the e-mail templates render (the same ones that made title and body).
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # the unread count in the page header
            models.Index(
                fields=["recipient"], condition=Q(read_at__isnull=True), name="notification_unread"
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_recipient"),
        ]

    def __str__(self) -> str:
        return self.title


# --- outbound webhooks ---------------------------------------------------------------------


def new_webhook_secret() -> str:
    import secrets

    return secrets.token_urlsafe(32)


class WebhookSubscription(models.Model):
    """A CRM or chat tool that wants to hear of lifecycle events (routing/webhooks.py)."""

    class EventType(models.TextChoices):
        STAGE_CHANGED = "lead.stage_changed", "Lead stage changed"
        LEAD_ASSIGNED = "lead.assigned", "Lead assigned"
        SLA_WARNED = "sla.warned", "SLA warning"
        SLA_BREACHED = "sla.breached", "SLA breached"

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500, help_text="Receives a signed JSON POST per event.")
    secret = models.CharField(
        max_length=100,
        default=new_webhook_secret,
        help_text="Signs every payload (HMAC-SHA256); share it with the receiver only.",
    )
    event_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = set(self.event_types or []) - set(self.EventType.values)
        if unknown or not self.event_types:
            raise ValidationError({"event_types": "Choose one or more of the event types."})

    def wants(self, event_type: str) -> bool:
        return self.active and event_type in (self.event_types or [])


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one subscription: the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Failed, will retry"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed, gave up"
        CANCELLED = "cancelled", "Cancelled (subscription inactive)"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(help_text="The same for every subscription told of the event.")
    event_type = models.CharField(max_length=40, choices=WebhookSubscription.EventType.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id"], name="one_delivery_per_event_and_subscription"
            ),
        ]
        indexes = [
            models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_sub"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.subscription_id} ({self.get_status_display()})"
