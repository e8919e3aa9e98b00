from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .models import (
    ChecklistItem,
    CriteriaSet,
    FastLaneRule,
    ProductLine,
    Reason,
    ScoringRule,
)
from .selectors import impact_preview


@admin.register(ProductLine)
class ProductLineAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(Reason)
class ReasonAdmin(admin.ModelAdmin):
    list_display = ["label", "code", "kind", "category", "requires_note", "active", "system"]
    list_filter = ["kind", "category", "active", "system"]
    search_fields = ["label", "code"]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["system"]
        if obj is not None and obj.is_used():
            # reports and the audit trail refer to the code
            readonly.append("code")
        return readonly

    def has_delete_permission(self, request, obj=None):
        # a used reason is deactivated, not deleted (PROTECT would refuse anyway)
        return obj is not None and not obj.is_used() and super().has_delete_permission(request, obj)


@admin.register(FastLaneRule)
class FastLaneRuleAdmin(admin.ModelAdmin):
    list_display = ["label", "event_kind", "active"]


class DraftOnlyInline(admin.TabularInline):
    """Rules and checklist of a published version are shown, never edited."""

    extra = 0

    def has_add_permission(self, request, obj=None):
        return obj is None or obj.is_editable

    def has_change_permission(self, request, obj=None):
        return obj is None or obj.is_editable

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.is_editable


class ScoringRuleInline(DraftOnlyInline):
    model = ScoringRule
    fields = [
        "order",
        "kind",
        "label",
        "points",
        "field",
        "operator",
        "value",
        "must_have",
        "event_kind",
        "content_tag",
        "url_pattern",
        "max_points",
    ]


class ChecklistItemInline(DraftOnlyInline):
    model = ChecklistItem
    fields = ["order", "dimension", "question", "help_text", "must_have"]


@admin.register(CriteriaSet)
class CriteriaSetAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "product_line",
        "version",
        "status",
        "fit_threshold",
        "engagement_threshold",
        "published_at",
    ]
    list_filter = ["status", "product_line", "sales_motion"]
    inlines = [ScoringRuleInline, ChecklistItemInline]
    actions = ["copy_to_draft", "publish"]
    fields = [
        "name",
        "product_line",
        "sales_motion",
        "version",
        "status",
        "fit_threshold",
        "engagement_threshold",
        "account_engagement_threshold",
        "required_fields",
        "engagement_half_life_days",
        "recycle_limit",
        "requires_sql_checks",
        "published_at",
        "impact",
    ]

    def get_readonly_fields(self, request, obj=None):
        always = ["version", "status", "published_at", "impact"]
        if obj is not None:
            return [*always, "product_line"]
        return always

    def has_change_permission(self, request, obj=None):
        # A published version is shown read-only: a change is a new draft.
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and obj.is_editable and not obj.leads.exists()

    def save_model(self, request, obj, form, change):
        if not change:
            # a new set starts as version 1 of its product line, or after the last one
            last = (
                CriteriaSet.objects.filter(product_line=obj.product_line)
                .order_by("-version")
                .first()
            )
            obj.version = (last.version + 1) if last else 1
        super().save_model(request, obj, form, change)

    @admin.display(description="Impact preview (last 90 days)")
    def impact(self, obj):
        if obj is None or obj.pk is None or not obj.is_editable:
            return "Shown on drafts."
        preview = impact_preview(obj, now=timezone.now())
        return format_html(
            "<table><thead><tr><th></th><th>MQLs</th><th>accepted by sales</th>"
            "<th>reached SQL</th></tr></thead><tbody>"
            "<tr><th>this draft</th><td>{}</td><td>{}</td><td>{}</td></tr>"
            "<tr><th>active version</th><td>{}</td><td>{}</td><td>{}</td></tr>"
            "</tbody></table><p>{} leads of the last {} days scored under both versions.</p>",
            preview.mql_under_draft,
            preview.accepted_under_draft,
            preview.sql_under_draft,
            preview.mql_under_active,
            preview.accepted_under_active,
            preview.sql_under_active,
            preview.leads,
            preview.days,
        )

    @admin.action(description="Copy to new draft")
    def copy_to_draft(self, request, queryset):
        for criteria_set in queryset:
            draft = services.copy_to_draft(criteria_set=criteria_set, by=request.user)
            self.message_user(
                request, f"Created {draft}: edit it, then publish it.", messages.SUCCESS
            )

    @admin.action(description="Publish (retires the active version)")
    def publish(self, request, queryset):
        for criteria_set in queryset:
            try:
                published = services.publish(criteria_set=criteria_set, by=request.user)
            except services.CriteriaError as error:
                self.message_user(request, f"{criteria_set}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"Published {published}.", messages.SUCCESS)
