"""Leads and their lifecycle. State lives here; the flow lives in leads/services.py.

Transition methods declare source, target, guards and permission, and change only
fields of the lead in memory. Only leads/services.py calls them: it locks the row,
checks input, saves, writes the audit row and schedules side effects.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from . import guards
from .stages import CLOSED_STAGES, OPEN_STAGES, Stage


class Account(models.Model):
    class Segment(models.TextChoices):
        ENTERPRISE = "enterprise", "Enterprise"
        MID_MARKET = "mid_market", "Mid-market"
        SMALL_BUSINESS = "small_business", "Small business"

    name = models.CharField(max_length=200)
    # Normalised (lower case, no scheme, no "www.") so "ACME.com" and "acme.com" are one.
    domain = models.CharField(max_length=253, unique=True)
    industry = models.CharField(max_length=80, blank=True)
    segment = models.CharField(max_length=20, choices=Segment.choices, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 code, e.g. DE")
    region = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# A rep's queue shows hot leads first, then standard, then the rest.
QUEUE_PRIORITY_RANK = Case(
    When(priority="hot", then=Value(0)),
    When(priority="standard", then=Value(1)),
    default=Value(2),
)


class Lead(ConcurrentTransitionMixin, models.Model):
    class Source(models.TextChoices):
        INBOUND_FORM = "inbound_form", "Inbound form"
        RFQ = "rfq", "RFQ"
        WEBINAR = "webinar", "Webinar"
        EVENT = "event", "Event"
        OUTBOUND = "outbound", "Outbound"
        PARTNER = "partner", "Partner"
        CONTENT = "content", "Content"

    class Priority(models.TextChoices):
        HOT = "hot", "Hot"
        STANDARD = "standard", "Standard"
        LOW = "low", "Low"

    class RoleCategory(models.TextChoices):
        EXECUTIVE = "executive", "Executive"
        ENGINEERING = "engineering", "Engineering"
        PROCUREMENT = "procurement", "Procurement"
        OPERATIONS = "operations", "Operations"
        MAINTENANCE = "maintenance", "Maintenance"
        OTHER = "other", "Other"

    # contact
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=80, blank=True)
    last_name = models.CharField(max_length=80, blank=True)
    title = models.CharField(max_length=120, blank=True)
    role_category = models.CharField(max_length=20, choices=RoleCategory.choices, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 code, e.g. DE")
    free_mail = models.BooleanField(
        default=False, help_text="The e-mail domain is a free-mail provider, not a company."
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )

    # origin
    source = models.CharField(max_length=20, choices=Source.choices)
    campaign = models.CharField(max_length=120, blank=True)
    utm_source = models.CharField(max_length=120, blank=True)
    utm_medium = models.CharField(max_length=120, blank=True)
    utm_campaign = models.CharField(max_length=120, blank=True)
    utm_content = models.CharField(max_length=120, blank=True)
    utm_term = models.CharField(max_length=120, blank=True)
    product_line = models.ForeignKey(
        "qualification.ProductLine", null=True, blank=True, on_delete=models.PROTECT
    )

    # lifecycle
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.STANDARD)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_leads",
        db_index=False,  # lead_owner_stage (owner first) serves every lookup by owner
    )
    # The team of the lead's latest routing with a team, kept by routing.services with
    # every hand-over (an Assignment row says the same): routing.assignment.team_of and the
    # reports read it instead of looking for the latest assignment lead by lead.
    routed_team = models.ForeignKey(
        "routing.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stage = FSMField(default=Stage.NEW, choices=Stage.choices, protected=True, db_index=True)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    fit_score = models.IntegerField(default=0)
    engagement_score = models.IntegerField(default=0)
    # The criteria version the lead is measured against: the active one while it is
    # being scored, frozen when it becomes an MQL.
    criteria_set = models.ForeignKey(
        "qualification.CriteriaSet",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
    )
    # Non-empty when a fast-lane event (RFQ, booked meeting) from a lead passing the
    # must-have fit rules makes it an MQL regardless of thresholds.
    fast_lane_reason = models.CharField(max_length=120, blank=True)
    # Non-empty when the lead's account crossed its criteria set's account engagement
    # threshold and this contact was picked as the account's MQL.
    account_mql_reason = models.CharField(max_length=200, blank=True)
    # Set by each scoring (leads.services): the lead missed a handoff field or failed a
    # must-have fit rule of its criteria version, so it cannot be its account's MQL
    # until its facts change. The account-MQL search reads only contacts not blocked
    # (its partial index below); a contact never scored counts as not blocked, and the
    # one chosen is checked again on its current facts.
    handoff_blocked = models.BooleanField(default=False, editable=False)
    mql_cycle = models.PositiveSmallIntegerField(
        default=0, help_text="How many times the lead has become an MQL."
    )
    disputed_in_cycle = models.PositiveSmallIntegerField(default=0)
    recycle_count = models.PositiveSmallIntegerField(default=0)
    follow_up_on = models.DateField(null=True, blank=True)
    # When the most urgent running SLA clock is due; kept by routing.sla when a clock
    # starts or stops, so the manager's page sorts by an index, not by an aggregate.
    sla_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_step = models.CharField(max_length=300, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # The first time the lead entered the funnel and reached each stage after it, kept
    # by leads.milestones.note_stage_change wherever an audit row is written: the
    # reports' cohorts and funnel times read these, not the whole stage history.
    entered_funnel_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_mql_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_rejected_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_sql_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_opportunity_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Its score at its first MQL, as that audit row records it (kept with first_mql_at):
    # the score calibration report groups the cohort by these rather than finding each
    # lead's first MQL row among the stage history.
    first_mql_fit_score = models.IntegerField(null=True, blank=True, editable=False)
    first_mql_engagement_score = models.IntegerField(null=True, blank=True, editable=False)
    first_mql_criteria_set = models.ForeignKey(
        "qualification.CriteriaSet",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # read with the cohort, never looked up by version
    )

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(archived_at__isnull=True) & ~Q(stage__in=CLOSED_STAGES),
                name="lead_email_unique_among_open_leads",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            # a rep's queue (leads.selectors.lead_queue_for) reads only this small slice,
            # in the queue's own order: its first page is the index's first entries
            models.Index(
                F("owner"),
                QUEUE_PRIORITY_RANK,
                F("sla_due_at"),  # ascending: PostgreSQL puts the leads without a clock last
                F("stage_entered_at"),
                F("id"),
                condition=Q(stage__in=("mql", "accepted"), archived_at__isnull=True),
                name="lead_queue",
            ),
            # the SLA sweep's follow-ups: nurtured leads by follow-up date, so finding
            # the due ones costs what is due, not what is nurtured (routing.sla)
            models.Index(
                fields=["follow_up_on"],
                condition=Q(stage="nurture", archived_at__isnull=True),
                name="lead_follow_up_due",
            ),
            # the manager's team page: open sales leads by owner, most urgent first, in
            # the page's whole order (URGENT_FIRST ends with the id): each owner's first
            # rows are the index's first entries, read without the table or a sort
            models.Index(
                fields=["owner", "sla_due_at", "id"],
                condition=Q(stage__in=("mql", "accepted", "sql"), archived_at__isnull=True),
                name="lead_team_by_due",
            ),
            # the account-MQL search: each account's contacts that may become its MQL
            # (leads.services._account_mqls), new or engaged and not blocked from handoff
            models.Index(
                fields=["account", "criteria_set"],
                condition=Q(
                    stage__in=("new", "engaged"),
                    archived_at__isnull=True,
                    free_mail=False,
                    handoff_blocked=False,
                ),
                name="lead_account_mql_candidates",
            ),
            # the reports: a cohort is the leads whose first MQL lies in the period, and
            # the funnel's "engaged" the leads that entered the funnel in it
            models.Index(
                fields=["first_mql_at"],
                condition=Q(first_mql_at__isnull=False),
                name="lead_first_mql",
            ),
            models.Index(
                fields=["entered_funnel_at"],
                condition=Q(entered_funnel_at__isnull=False),
                name="lead_entered_funnel",
            ),
            # the reports' campaign choices: a handful of names among a million leads,
            # read by skipping from one name to the next (reporting.filters.campaigns)
            models.Index(
                fields=["campaign"],
                condition=Q(archived_at__isnull=True) & ~Q(campaign=""),
                name="lead_campaign",
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name else self.email

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES and self.archived_at is None

    @property
    def state_fields(self) -> tuple[FSMField, ...]:
        # django-fsm's ConcurrentTransitionMixin finds the state fields by testing every
        # field of the model, for every lead built (it remembers their loaded values);
        # the lead has one, and an event batch builds thousands of leads.
        return (self._meta.get_field("stage"),)

    def delete(self, *args, **kwargs):
        if self.stage_changes.exists():
            raise ValidationError("A lead with history cannot be deleted; archive it instead.")
        return super().delete(*args, **kwargs)

    def _enter(self, at) -> None:
        self.stage_entered_at = at

    # --- transitions -------------------------------------------------------------
    # Each takes `at` (the transition time) and only what it changes on the lead.

    @transition(field=stage, source=Stage.NEW, target=Stage.ENGAGED)
    def engage(self, *, at) -> None:
        self._enter(at)

    @transition(
        field=stage,
        source=[Stage.NEW, Stage.ENGAGED, Stage.NURTURE],
        target=Stage.MQL,
        conditions=[guards.not_archived, guards.meets_mql_definition],
    )
    def qualify_mql(self, *, at) -> None:
        self._enter(at)
        self.mql_cycle += 1
        self.follow_up_on = None
        if self.fast_lane_reason:
            self.priority = self.Priority.HOT

    @transition(
        field=stage,
        source=Stage.MQL,
        target=Stage.ACCEPTED,
        conditions=[guards.not_archived],
        permission=guards.is_owner_or_manager,
    )
    def accept(self, *, at) -> None:
        self._enter(at)

    @transition(
        field=stage,
        source=Stage.MQL,
        target=Stage.REJECTED,
        conditions=[guards.not_archived],
        permission=guards.is_owner_or_manager,
    )
    def reject(self, *, at) -> None:
        self._enter(at)

    @transition(
        field=stage,
        source=Stage.ACCEPTED,
        target=Stage.SQL,
        conditions=[guards.not_archived, guards.checklist_must_haves_confirmed],
        permission=guards.is_owner_or_manager,
    )
    def qualify_sql(self, *, at, next_step: str) -> None:
        self._enter(at)
        self.next_step = next_step

    @transition(
        field=stage,
        source=[Stage.ACCEPTED, Stage.SQL],
        target=Stage.NURTURE,
        conditions=[guards.not_archived],
        permission=guards.is_owner_or_manager,
    )
    def nurture(self, *, at, follow_up_on) -> None:
        self._enter(at)
        self.follow_up_on = follow_up_on
        self.fast_lane_reason = ""
        self.account_mql_reason = ""

    @transition(
        field=stage,
        source=Stage.SQL,
        target=Stage.OPPORTUNITY,
        conditions=[guards.not_archived],
        permission=guards.is_owner_or_manager,
    )
    def convert(self, *, at) -> None:
        self._enter(at)

    @transition(
        field=stage,
        source=Stage.REJECTED,
        target=Stage.NURTURE,
        conditions=[guards.not_archived, guards.under_recycle_limit],
        permission=guards.is_marketing_ops,
    )
    def recycle(self, *, at) -> None:
        self._enter(at)
        self.recycle_count += 1
        self.fast_lane_reason = ""
        self.account_mql_reason = ""

    @transition(
        field=stage,
        source=Stage.REJECTED,
        target=Stage.MQL,
        conditions=[guards.not_archived, guards.not_disputed_this_cycle],
        permission=guards.is_marketing_ops,
    )
    def dispute(self, *, at, owner=None) -> None:
        self._enter(at)
        self.disputed_in_cycle = self.mql_cycle
        if owner is not None:
            self.owner = owner

    # Two decorators: who may disqualify depends on where the lead is. After contact it
    # is the rep's verdict; before contact a rep rejects, and disqualifying (spam that
    # slipped through, a rejected lead) is marketing's call.
    @transition(
        field=stage,
        source=[Stage.ACCEPTED, Stage.SQL],
        target=Stage.DISQUALIFIED,
        permission=guards.is_owner_or_manager,
    )
    @transition(
        field=stage,
        source=[Stage.NEW, Stage.ENGAGED, Stage.MQL, Stage.REJECTED, Stage.NURTURE],
        target=Stage.DISQUALIFIED,
        permission=guards.is_marketing_ops,
    )
    def disqualify(self, *, at) -> None:
        self._enter(at)
        self.follow_up_on = None


class StageChangeQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValidationError("Stage changes are an audit trail: they cannot be changed.")

    def delete(self):
        raise ValidationError("Stage changes are an audit trail: they cannot be deleted.")


class StageChange(models.Model):
    """One row per transition, by a person or by the system (actor null). Append-only:
    no update or delete path here, in the admin, or (on PostgreSQL) in the database."""

    # no index of its own: stage_change_lead_at (lead first) serves every lookup by lead
    lead = models.ForeignKey(
        Lead, on_delete=models.PROTECT, related_name="stage_changes", db_index=False
    )
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    transition = models.CharField(max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stage_changes",
    )
    at = models.DateTimeField(db_index=True)
    reason = models.ForeignKey(
        "qualification.Reason",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stage_changes",
    )
    note = models.TextField(blank=True)
    checklist_snapshot = models.JSONField(default=list, blank=True)
    fit_score = models.IntegerField()
    engagement_score = models.IntegerField()
    criteria_set = models.ForeignKey(
        "qualification.CriteriaSet",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stage_changes",
    )
    # What else the transition recorded: follow-up date, next step, new owner.
    details = models.JSONField(default=dict, blank=True)

    objects = StageChangeQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [
            models.Index(fields=["lead", "at"], name="stage_change_lead_at"),
            # the reports: a lead's changes into one stage, in time order (the first MQL
            # row of a cohort lead, "reached SQL after this decision")
            models.Index(fields=["lead", "to_stage", "at"], name="stage_change_lead_to_at"),
            # the rejection report's latest rejections without a note, newest first
            models.Index(
                fields=["-at", "-id"],
                condition=Q(transition="reject", note=""),
                name="stage_change_reject_no_note",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage} → {self.to_stage} ({self.transition})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("Stage changes are an audit trail: they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Stage changes are an audit trail: they cannot be deleted.")


class Touch(models.Model):
    """A sales touch a rep logged: the first one stops the first-touch SLA clock."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        EMAIL = "email", "E-mail"
        MEETING = "meeting", "Meeting"

    class Outcome(models.TextChoices):
        CONNECTED = "connected", "Connected"
        LEFT_MESSAGE = "left_message", "Left a message"
        NO_ANSWER = "no_answer", "No answer"
        REPLIED = "replied", "Replied"
        MEETING_HELD = "meeting_held", "Meeting held"
        MEETING_BOOKED = "meeting_booked", "Meeting booked"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="touches")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    note = models.TextField(blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_outcome_display()})"


class EngagementEvent(models.Model):
    class Kind(models.TextChoices):
        PAGE_VIEW = "page_view", "Page view"
        CONTENT_DOWNLOAD = "content_download", "Content download"
        WEBINAR_REGISTERED = "webinar_registered", "Webinar registered"
        WEBINAR_ATTENDED = "webinar_attended", "Webinar attended"
        FORM_SUBMITTED = "form_submitted", "Form submitted"
        PRICING_PAGE_VIEW = "pricing_page_view", "Pricing page view"
        SPEC_SHEET_REQUEST = "spec_sheet_request", "Spec sheet request"
        RFQ_SUBMITTED = "rfq_submitted", "RFQ submitted"
        MEETING_BOOKED = "meeting_booked", "Meeting booked"
        EMAIL_REPLY = "email_reply", "E-mail reply"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribe"

    # no index of its own: event_lead_time (lead first) serves every lookup by lead
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    # Idempotency key from the sending system: a repeat is a no-op.
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    url = models.CharField(max_length=500, blank=True)
    content_tag = models.CharField(max_length=80, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [models.Index(fields=["lead", "-occurred_at"], name="event_lead_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"
