"""Request and response shapes of the API. Request serializers only parse and check
input; what is allowed is decided by leads/services.py."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from leads.models import Account, EngagementEvent, Lead, Touch
from leads.services import EVENT_KINDS, TRANSITIONS, normalise_domain
from leads.stages import Stage
from qualification.models import ChecklistAnswer

MAX_INT = 2**31 - 1  # PostgreSQL integer
MAX_ID = 2**63 - 1  # PostgreSQL bigint
METADATA_MAX_BYTES = 16 * 1024
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# --- building blocks ----------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a misspelt field is an error, not silently lost."""

    def to_internal_value(self, data):
        unknown: list[str] = []
        if isinstance(data, Mapping):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key) for key in data if key not in known)
        errors: dict[str, Any] = {}
        value = None
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            detail = exc.detail
            errors = dict(detail) if isinstance(detail, dict) else {"non_field_errors": detail}
        for name in unknown:
            errors[name] = [ErrorDetail("This field is not part of the API.", code="unknown_field")]
        if errors:
            raise ValidationError(errors)
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a time zone. A time without one is refused, not guessed: "10:00"
    in whose time zone?"""

    default_error_messages = {
        "naive": "Give the time with its time zone, e.g. 2026-03-02T10:00:00+01:00 or "
        "2026-03-02T09:00:00Z.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # e.g. 30 February: the parent says "invalid"
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        elif isinstance(value, dt.datetime) and timezone.is_naive(value):
            self.fail("naive")
        return super().to_internal_value(value)


def text(max_length: int, **kwargs) -> serializers.CharField:
    """An optional text field; null and "" both mean "not given"."""
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    kwargs.setdefault("allow_null", True)
    return serializers.CharField(max_length=max_length, **kwargs)


def choice(choices, **kwargs) -> serializers.ChoiceField:
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    kwargs.setdefault("allow_null", True)
    return serializers.ChoiceField(choices=choices, **kwargs)


class CountryField(serializers.RegexField):
    default_error_messages = {"invalid": "Give a two-letter ISO 3166 code, e.g. DE."}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(r"^[A-Za-z]{2}$", max_length=2, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data).upper()


@extend_schema_field({"type": "object", "additionalProperties": True})
class MetadataField(serializers.JSONField):
    pass


class ErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorsSerializer(serializers.Serializer):
    errors = ErrorSerializer(many=True)


# --- leads: input -------------------------------------------------------------------------


class LeadUpsertSerializer(StrictSerializer):
    """A lead as a form, a webinar platform or a CRM knows it. Matched by e-mail (case and
    surrounding spaces ignored; "ann+rfq@x.com" is its own address); known values are
    never blanked by an empty one."""

    email = serializers.EmailField(max_length=254)
    first_name = text(80)
    last_name = text(80)
    title = text(120)
    role_category = choice(Lead.RoleCategory.choices)
    phone = text(40)
    country = CountryField()
    source = choice(Lead.Source.choices, help_text="Required when the lead is new.")
    campaign = text(120)
    utm_source = text(120)
    utm_medium = text(120)
    utm_campaign = text(120)
    utm_content = text(120)
    utm_term = text(120)
    product_line = serializers.RegexField(
        r"^[-a-zA-Z0-9_]+$",
        max_length=40,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Product line code, e.g. components.",
    )
    # the account, matched by the website's domain (else the e-mail's, unless free-mail)
    company = text(200)
    website = text(300, help_text="The company's website or domain, e.g. https://acme.example/.")
    industry = text(80)
    segment = choice(Account.Segment.choices)
    employee_count = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_INT
    )
    region = text(40)

    def validate_website(self, value):
        if value and not HOSTNAME.match(normalise_domain(value)):
            raise ValidationError("Give a website or domain, e.g. acme.example.", code="invalid")
        return value


class LeadListQuerySerializer(StrictSerializer):
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    owner = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="The owner's user id."
    )
    source = serializers.ChoiceField(choices=Lead.Source.choices, required=False)
    product_line = serializers.SlugField(max_length=40, required=False, help_text="Its code.")
    updated_since = AwareDateTimeField(
        required=False, help_text="Only leads changed at or after this time."
    )
    cursor = serializers.CharField(required=False, help_text="From the `next` link.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)


# --- leads: output ------------------------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class AccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    domain = serializers.CharField()
    industry = serializers.CharField()
    segment = serializers.CharField()
    employee_count = serializers.IntegerField(allow_null=True)
    country = serializers.CharField()


class ClockSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    owner = UserRefSerializer(allow_null=True)
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    warned_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField()


class RunningClockSerializer(serializers.Serializer):
    kind = serializers.CharField()
    due_at = serializers.DateTimeField()
    breached = serializers.SerializerMethodField()

    def get_breached(self, clock) -> bool:
        return clock.breached_at is not None


class LeadSerializer(serializers.Serializer):
    """A lead as lists show it (one query for any page: leads.selectors.with_list_relations)."""

    id = serializers.IntegerField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    title = serializers.CharField()
    role_category = serializers.CharField()
    phone = serializers.CharField()
    country = serializers.CharField()
    free_mail = serializers.BooleanField()
    account = AccountRefSerializer(allow_null=True)
    source = serializers.CharField()
    campaign = serializers.CharField()
    product_line = serializers.CharField(source="product_line.code", allow_null=True)
    stage = serializers.ChoiceField(choices=Stage.choices)
    stage_entered_at = serializers.DateTimeField()
    priority = serializers.CharField()
    owner = UserRefSerializer(allow_null=True)
    fit_score = serializers.IntegerField()
    engagement_score = serializers.IntegerField()
    fast_lane_reason = serializers.CharField()
    follow_up_on = serializers.DateField(allow_null=True)
    next_step = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    running_clocks = serializers.SerializerMethodField()

    @extend_schema_field(RunningClockSerializer(many=True))
    def get_running_clocks(self, lead):
        # prefetched by with_list_relations; the detail view sets the same attribute
        clocks = getattr(lead, "running_clocks", None)
        if clocks is None:
            clocks = [c for c in lead.sla_clocks.all() if c.stopped_at is None]
        return RunningClockSerializer(clocks, many=True).data


class LeadUpsertResultSerializer(LeadSerializer):
    created = serializers.BooleanField(help_text="True: a new lead (201); false: updated (200).")


class ScoreLineSerializer(serializers.Serializer):
    label = serializers.CharField()
    points = serializers.IntegerField()
    kind = serializers.CharField()


class ScoreSerializer(serializers.Serializer):
    fit = serializers.IntegerField()
    engagement = serializers.IntegerField()
    lines = ScoreLineSerializer(many=True)


class ChecklistRowSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item_id")
    dimension = serializers.CharField()
    question = serializers.CharField()
    help_text = serializers.CharField()
    must_have = serializers.BooleanField()
    answer = serializers.ChoiceField(choices=ChecklistAnswer.Answer.choices)
    evidence = serializers.CharField()


class ReasonRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class StageChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    transition = serializers.CharField()
    from_stage = serializers.ChoiceField(choices=Stage.choices)
    to_stage = serializers.ChoiceField(choices=Stage.choices)
    actor = UserRefSerializer(allow_null=True, help_text="null: handoff itself.")
    reason = ReasonRefSerializer(allow_null=True)
    note = serializers.CharField()
    fit_score = serializers.IntegerField()
    engagement_score = serializers.IntegerField()
    criteria_set = serializers.IntegerField(source="criteria_set_id", allow_null=True)
    details = serializers.DictField()


class LeadDetailSerializer(LeadSerializer):
    """The lead page's facts: why it scored, its checklist, its clocks and its history.
    The view attaches score, checklist, clocks, history and available_transitions."""

    score = ScoreSerializer(help_text="The score now, line by line, under its criteria version.")
    checklist = ChecklistRowSerializer(many=True)
    clocks = ClockSerializer(many=True)
    history = StageChangeSerializer(many=True)
    available_transitions = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(TRANSITIONS)),
        help_text="What this client could do now (guards and permission met).",
    )


# --- events -------------------------------------------------------------------------------


class EventSerializer(StrictSerializer):
    """One engagement event. The lead is named by `lead` (its id) or `email` (the open
    lead with that address), not both."""

    lead = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    email = serializers.EmailField(required=False, max_length=254)
    kind = serializers.ChoiceField(choices=EngagementEvent.Kind.choices)
    occurred_at = AwareDateTimeField()
    external_id = text(
        200, help_text="The sender's id of this event: a repeat is reported as a duplicate."
    )
    url = text(500)
    content_tag = text(80)
    metadata = MetadataField(required=False, help_text="A JSON object, at most 16 KB.")

    def validate_metadata(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError("Give a JSON object.", code="invalid")
        if len(json.dumps(value, ensure_ascii=False).encode()) > METADATA_MAX_BYTES:
            raise ValidationError("At most 16 KB of metadata.", code="too_large")
        return value

    def validate(self, attrs):
        if ("lead" in attrs) == ("email" in attrs):
            raise ValidationError(
                {"lead": ErrorDetail("Name the lead by `lead` or by `email`.", code="required")}
            )
        if attrs["occurred_at"] > timezone.now() + dt.timedelta(minutes=5):
            raise ValidationError(
                {
                    "occurred_at": ErrorDetail(
                        "An event cannot have happened in the future.", code="in_future"
                    )
                }
            )
        return attrs

    def plain_value(self, item: Any) -> dict[str, Any] | None:
        """What `run_validation(item)` returns, for an item in the usual shape (the lead
        by id, texts, no metadata) that is valid, without DRF's per-field machinery (a
        batch validates a thousand); None for anything else, which the full validation
        then accepts or words the errors of. Shown equal item by item in the tests."""
        if type(item) is not dict or not item.keys() <= _PLAIN_EVENT_KEYS:
            return None
        lead, kind, occurred_at = item.get("lead"), item.get("kind"), item.get("occurred_at")
        if type(lead) is not int or not 1 <= lead <= MAX_ID:
            return None
        if type(kind) is not str or kind not in EVENT_KINDS:
            return None
        if type(occurred_at) is not str or occurred_at != occurred_at.strip():
            return None
        try:
            parsed = parse_datetime(occurred_at)
            if parsed is None or timezone.is_naive(parsed):
                return None
            parsed = self.fields["occurred_at"].enforce_timezone(parsed)
        except (ValueError, ValidationError):
            return None
        if parsed > timezone.now() + dt.timedelta(minutes=5):
            return None
        value: dict[str, Any] = {"lead": lead, "kind": kind, "occurred_at": parsed}
        for name, limit in _PLAIN_TEXT_LIMITS.items():
            if name not in item:
                continue
            text_ = item[name]
            if text_ is not None:
                if type(text_) is not str or "\x00" in text_ or _SURROGATE.search(text_):
                    return None
                text_ = text_.strip()
                if len(text_) > limit:
                    return None
            value[name] = text_
        return value


# EventSerializer.plain_value: the keys it takes, the text fields' limits
_PLAIN_TEXT_LIMITS = {"external_id": 200, "url": 500, "content_tag": 80}
_PLAIN_EVENT_KEYS = frozenset({"lead", "kind", "occurred_at", *_PLAIN_TEXT_LIMITS})
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position in the batch (0 for a single event).")
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    event = serializers.IntegerField(allow_null=True)
    lead = serializers.IntegerField(allow_null=True)
    errors = ErrorSerializer(many=True, help_text="Why a rejected event was refused.")


class EventBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventResultSerializer(many=True)


# --- transitions, touches, checklist --------------------------------------------------------


class TransitionSerializer(StrictSerializer):
    """Inputs of a transition; each takes only its own (GET the lead for what it can do):
    reject, nurture, disqualify take `reason` (a reason code) and `note`; nurture also
    `follow_up_on`; qualify_sql `next_step` and `note`; convert, recycle, dispute `note`."""

    seen_stage = serializers.ChoiceField(
        choices=Stage.choices,
        required=False,
        help_text="The stage the client last saw: if the lead moved since, 409 stale.",
    )
    reason = serializers.SlugField(max_length=60, required=False)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    next_step = serializers.CharField(max_length=300, required=False, allow_blank=True)
    follow_up_on = serializers.DateField(required=False)


class TransitionResultSerializer(serializers.Serializer):
    change = StageChangeSerializer(help_text="The audit row (recycle past its limit disqualifies).")
    lead = LeadSerializer()


class TouchSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=Touch.Kind.choices)
    outcome = serializers.ChoiceField(choices=Touch.Outcome.choices)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    occurred_at = AwareDateTimeField(required=False, help_text="Empty: now.")


class TouchResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    outcome = serializers.CharField()
    note = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    by = UserRefSerializer()


class ChecklistAnswerSerializer(StrictSerializer):
    answer = serializers.ChoiceField(choices=ChecklistAnswer.Answer.choices)
    evidence = serializers.CharField(max_length=5000, required=False, allow_blank=True)
