"""Marketing ops configure routing and SLAs here; clocks, assignments and notifications
are history and read-only."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from leads.admin import ReadOnlyAdminMixin

from .models import (
    Assignment,
    BusinessCalendar,
    Holiday,
    Notification,
    OutOfOffice,
    RoutingRule,
    SlaClock,
    SlaPolicy,
    Team,
    TeamMembership,
    WebhookDelivery,
    WebhookSubscription,
)


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    fields = ["user", "weight", "max_open_leads", "active"]
    autocomplete_fields = ["user"]
    extra = 1


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "manager", "max_open_leads", "is_default", "active"]
    list_filter = ["active", "is_default"]
    search_fields = ["name"]
    list_select_related = ["manager"]
    autocomplete_fields = ["manager"]
    inlines = [TeamMembershipInline]


@admin.register(OutOfOffice)
class OutOfOfficeAdmin(admin.ModelAdmin):
    list_display = ["user", "unavailable_from", "unavailable_to", "note"]
    list_filter = ["unavailable_from"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["order", "name", "conditions", "team", "active"]
    list_display_links = ["name"]
    list_editable = ["order", "active"]
    list_filter = ["active", "team"]
    list_select_related = ["team", "product_line"]
    ordering = ["order", "pk"]
    fieldsets = [
        (None, {"fields": ["name", "order", "active", "team"]}),
        (
            "Conditions (blank matches any lead)",
            {
                "fields": [
                    "countries",
                    "region",
                    "segment",
                    "industry",
                    "product_line",
                    "source",
                    ("employees_min", "employees_max"),
                    "priority",
                ]
            },
        ),
    ]

    @admin.display(description="Conditions")
    def conditions(self, rule: RoutingRule) -> str:
        from .assignment import Conditions

        return Conditions.of(rule).describe()


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "days", "start", "end"]
    inlines = [HolidayInline]

    @admin.display(description="Working days")
    def days(self, calendar: BusinessCalendar) -> str:
        names = BusinessCalendar.WEEKDAYS
        return ", ".join(names[d] for d in sorted(calendar.working_days or []) if 0 <= d < 7)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "priority",
        "source",
        "calendar",
        "decision_minutes",
        "first_touch_minutes",
        "qualification_minutes",
        "disposition_minutes",
        "warning_percent",
        "breach_action",
        "active",
    ]
    list_filter = ["priority", "breach_action", "active"]
    list_select_related = ["calendar"]


@admin.register(SlaClock)
class SlaClockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "lead",
        "kind",
        "owner",
        "started_at",
        "due_at",
        "warned_at",
        "breached_at",
        "stopped_at",
        "outcome",
    ]
    list_filter = ["kind", "outcome", "policy"]
    list_select_related = ["lead", "owner", "policy"]
    search_fields = ["lead__email"]
    date_hierarchy = "started_at"


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["lead", "at", "kind", "owner", "previous_owner", "team", "by"]
    list_filter = ["kind", "team"]
    list_select_related = ["lead", "owner", "previous_owner", "team", "by"]
    search_fields = ["lead__email"]
    date_hierarchy = "at"


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "recipient", "kind", "title", "read_at", "emailed_at"]
    list_filter = ["kind"]
    list_select_related = ["recipient"]
    search_fields = ["title", "recipient__username"]
    date_hierarchy = "created_at"


# --- outbound webhooks -------------------------------------------------------------------


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="Receives a signed JSON POST per event."
    )
    event_types = forms.MultipleChoiceField(
        choices=WebhookSubscription.EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "event_types", "secret", "active"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["name", "url", "events", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url"]

    @admin.display(description="Events")
    def events(self, subscription: WebhookSubscription) -> str:
        labels = dict(WebhookSubscription.EventType.choices)
        return ", ".join(labels.get(e, e) for e in subscription.event_types or [])


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "subscription",
        "event_type",
        "status",
        "attempts",
        "response_status",
        "last_attempt_at",
    ]
    list_filter = ["status", "event_type", "subscription"]
    list_select_related = ["subscription"]
    search_fields = ["event_id"]
    date_hierarchy = "created_at"
    actions = ["deliver_again"]

    @admin.action(description="Deliver the selected failed deliveries again")
    def deliver_again(self, request, queryset):
        from .tasks import deliver_webhook

        ids = list(
            queryset.filter(status=WebhookDelivery.Status.FAILED).values_list("pk", flat=True)
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(status=WebhookDelivery.Status.PENDING)
        for pk in ids:
            transaction.on_commit(lambda pk=pk: deliver_webhook.delay(pk), robust=True)
        self.message_user(request, f"{len(ids)} delivery(ies) queued again.", messages.SUCCESS)
