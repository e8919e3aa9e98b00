"""What "qualified" means, as marketing ops define it: versioned criteria sets with their
checklists, and the reason codes every "no" must carry."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from leads.models import EngagementEvent


class ProductLine(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Reason(models.Model):
    """A reason code. Every reject, nurture and disqualify carries one."""

    class Kind(models.TextChoices):
        REJECTION = "rejection", "Rejection"
        NURTURE = "nurture", "Nurture"
        DISQUALIFICATION = "disqualification", "Disqualification"

    class Category(models.TextChoices):
        FIT = "fit", "Fit"
        TIMING = "timing", "Timing"
        AUTHORITY = "authority", "Authority"
        NEED = "need", "Need"
        DATA_QUALITY = "data_quality", "Data quality"
        DUPLICATE = "duplicate", "Duplicate"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=60, unique=True)
    label = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    category = models.CharField(max_length=20, choices=Category.choices)
    requires_note = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    # Recorded by handoff itself (e.g. "no response within SLA"); never offered to people.
    system = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["kind", "order", "label"]

    def __str__(self) -> str:
        return self.label

    def save(self, *args, **kwargs):
        if self.pk is not None and self.is_used():
            stored = Reason.objects.filter(pk=self.pk).values_list("code", flat=True).first()
            if stored is not None and stored != self.code:
                raise ValidationError(
                    {"code": "This reason has been used on leads; its code cannot change."}
                )
        super().save(*args, **kwargs)

    def is_used(self) -> bool:
        return self.pk is not None and self.stage_changes.exists()


class CriteriaSet(models.Model):
    """One version of the qualification definition for a product line.

    Active and retired versions are immutable; a change is a new draft, published.
    Leads record the version they were qualified under, so reports compare like with like.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class SalesMotion(models.TextChoices):
        TECHNICAL_EVALUATION = "technical_evaluation", "Technical evaluation"
        FORMAL_PROCUREMENT = "formal_procurement", "Formal procurement"
        PROJECT_INSTALLATION = "project_installation", "Project installation"
        SERVICE_RENEWAL = "service_renewal", "Service renewal"

    # Lead fields a criteria set may require before handoff, with their labels.
    HANDOFF_FIELDS = {
        "account": "Company",
        "country": "Country",
        "product_line": "Product interest",
        "role_category": "Role",
        "title": "Job title",
        "phone": "Phone",
        "first_name": "First name",
        "last_name": "Last name",
    }

    name = models.CharField(max_length=120)
    product_line = models.ForeignKey(
        ProductLine, on_delete=models.PROTECT, related_name="criteria_sets"
    )
    sales_motion = models.CharField(max_length=30, choices=SalesMotion.choices)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    fit_threshold = models.IntegerField(default=40)
    engagement_threshold = models.IntegerField(default=30)
    account_engagement_threshold = models.IntegerField(
        null=True,
        blank=True,
        help_text="When an account's summed engagement crosses this, its best-fit contact "
        "with a complete record becomes an MQL. Empty: no account MQLs.",
    )
    required_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Lead fields that must be filled at handoff: " + ", ".join(HANDOFF_FIELDS),
    )
    engagement_half_life_days = models.PositiveIntegerField(default=30)
    recycle_limit = models.PositiveSmallIntegerField(
        default=2, help_text="A lead recycled more often than this is disqualified."
    )
    requires_sql_checks = models.BooleanField(
        default=True, help_text="Qualifying to SQL needs every must-have checklist item confirmed."
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product_line__name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["product_line", "version"], name="criteria_set_version_unique"
            ),
            models.UniqueConstraint(
                fields=["product_line"],
                condition=Q(status="active"),
                name="one_active_criteria_set_per_product_line",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.get_status_display()})"

    def save(self, *args, **kwargs):
        # Status changes go through qualification.services.publish (a queryset update);
        # a save of a published version is an edit, and those are refused.
        if self.pk is not None:
            _refuse_if_frozen(self.pk)
        super().save(*args, **kwargs)

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    def clean(self) -> None:
        errors = {}
        if self.fit_threshold is not None and self.fit_threshold < 0:
            errors["fit_threshold"] = "The fit threshold cannot be negative."
        if self.engagement_threshold is not None and self.engagement_threshold < 0:
            errors["engagement_threshold"] = "The engagement threshold cannot be negative."
        if self.account_engagement_threshold is not None and self.account_engagement_threshold < 0:
            errors["account_engagement_threshold"] = "The account threshold cannot be negative."
        unknown = [f for f in self.required_fields or [] if f not in self.HANDOFF_FIELDS]
        if unknown:
            errors["required_fields"] = (
                f"Unknown handoff field(s): {', '.join(map(str, unknown))}. "
                f"Choose from: {', '.join(self.HANDOFF_FIELDS)}."
            )
        if errors:
            raise ValidationError(errors)


class FrozenVersionError(ValidationError):
    pass


class DraftOnly:
    """Rows of a criteria set (rules, checklist items) change only while it is a draft."""

    def save(self, *args, **kwargs):
        _refuse_if_frozen(self.criteria_set_id)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        _refuse_if_frozen(self.criteria_set_id)
        return super().delete(*args, **kwargs)


def _refuse_if_frozen(criteria_set_id: int | None) -> None:
    if criteria_set_id is None:
        return
    status = CriteriaSet.objects.filter(pk=criteria_set_id).values_list("status", flat=True)
    if status and status[0] != CriteriaSet.Status.DRAFT:
        raise FrozenVersionError(
            "This criteria version is published and cannot be edited. Use "
            "'Copy to new draft', edit the draft, then publish it."
        )


class ChecklistItem(DraftOnly, models.Model):
    class Dimension(models.TextChoices):
        FIT = "fit", "Fit"
        INTENT = "intent", "Intent"
        AUTHORITY = "authority", "Authority"
        NEED = "need", "Need"
        TIMELINE = "timeline", "Timeline"
        BUDGET = "budget", "Budget"

    criteria_set = models.ForeignKey(
        CriteriaSet, on_delete=models.CASCADE, related_name="checklist_items"
    )
    dimension = models.CharField(max_length=20, choices=Dimension.choices)
    question = models.CharField(max_length=200)
    help_text = models.CharField(max_length=300, blank=True)
    must_have = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["criteria_set", "order", "pk"]

    def __str__(self) -> str:
        return self.question


class ChecklistAnswer(models.Model):
    """One answer to a checklist item for a lead. The latest per item counts; earlier
    answers stay as history."""

    class Answer(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        NOT_MET = "not_met", "Not met"
        UNKNOWN = "unknown", "Unknown"

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="answers")
    answer = models.CharField(max_length=10, choices=Answer.choices)
    evidence = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    answered_at = models.DateTimeField()

    class Meta:
        ordering = ["-answered_at", "-pk"]
        indexes = [models.Index(fields=["lead", "item", "-answered_at"])]

    def __str__(self) -> str:
        return f"{self.item}: {self.get_answer_display()}"


EVENT_KINDS = EngagementEvent.Kind.choices


class ScoringRule(DraftOnly, models.Model):
    """One line of the score: a fit rule (a lead or account fact) or an engagement rule
    (an event kind, optionally narrowed by content tag or URL pattern)."""

    class Kind(models.TextChoices):
        FIT = "fit", "Fit"
        ENGAGEMENT = "engagement", "Engagement"

    class Operator(models.TextChoices):
        EQUALS = "equals", "equals"
        IN = "in", "is one of"
        RANGE = "range", "is between"
        IS_SET = "is_set", "is filled"

    # Lead facts a fit rule can look at (see leads.services.lead_facts).
    FACT_FIELDS = {
        "industry": "Industry",
        "segment": "Segment",
        "employee_count": "Employee count",
        "country": "Country",
        "region": "Region",
        "role_category": "Role",
        "title": "Job title",
        "phone": "Phone",
        "free_mail": "Free-mail address",
        "source": "Source channel",
        "product_line": "Product line",
        "domain": "Company domain",
    }

    criteria_set = models.ForeignKey(
        CriteriaSet, on_delete=models.CASCADE, related_name="scoring_rules"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    label = models.CharField(max_length=160, help_text="Shown to reps, e.g. 'Target industry'.")
    points = models.IntegerField(help_text="Negative points are allowed.")
    # fit rules
    field = models.CharField(
        max_length=30, blank=True, choices=[(k, v) for k, v in FACT_FIELDS.items()]
    )
    operator = models.CharField(max_length=10, choices=Operator.choices, blank=True)
    value = models.JSONField(
        null=True,
        blank=True,
        help_text='equals: "Machinery"; is one of: ["DE", "AT"]; is between: [50, 5000] '
        "(null for an open end); is filled: leave empty.",
    )
    must_have = models.BooleanField(
        default=False, help_text="Fit rule a fast-lane lead must pass (e.g. served region)."
    )
    # engagement rules
    event_kind = models.CharField(max_length=30, blank=True, choices=EVENT_KINDS)
    content_tag = models.CharField(max_length=80, blank=True)
    url_pattern = models.CharField(max_length=200, blank=True, help_text="e.g. */careers*")
    max_points = models.PositiveIntegerField(null=True, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["criteria_set", "order", "pk"]

    def __str__(self) -> str:
        return f"{self.label}: {self.points:+d}"

    def as_rule(self):
        """The pure-scoring form of this row (qualification.scoring)."""
        from . import scoring

        if self.kind == self.Kind.FIT:
            return scoring.FitRule(
                label=self.label,
                field=self.field,
                operator=self.operator,
                value=self.value,
                points=self.points,
                must_have=self.must_have,
            )
        return scoring.EngagementRule(
            label=self.label,
            event_kind=self.event_kind,
            points=self.points,
            content_tag=self.content_tag,
            url_pattern=self.url_pattern,
            max_points=self.max_points,
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if not (self.label or "").strip():
            errors["label"] = "Give the rule a label: reps read it in the score explanation."
        if self.kind == self.Kind.FIT:
            if not self.field:
                errors["field"] = "A fit rule needs the lead fact it looks at."
            if not self.operator:
                errors["operator"] = "A fit rule needs an operator."
        elif self.kind == self.Kind.ENGAGEMENT and not self.event_kind:
            errors["event_kind"] = "An engagement rule needs the event kind it counts."
        if not errors and self.kind:
            try:
                self.as_rule()
            except ValueError as exc:
                errors["value"] = str(exc)
        if errors:
            raise ValidationError(errors)


class FastLaneRule(models.Model):
    """Event kinds that make a lead an MQL at once, with priority hot, provided the
    must-have fit rules of its criteria set pass. Company-wide, not versioned."""

    event_kind = models.CharField(max_length=30, unique=True, choices=EVENT_KINDS)
    label = models.CharField(max_length=120)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.label
