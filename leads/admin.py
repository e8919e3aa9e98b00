from django.contrib import admin, messages

from . import services
from .models import Account, EngagementEvent, Lead, StageChange, Touch


class ReadOnlyAdminMixin:
    """For records that are history: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "industry", "segment", "country", "employee_count"]
    list_filter = ["segment", "country", "industry"]
    search_fields = ["name", "domain"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:  # its leads' fit scores and handoff readiness follow its facts
            services.rescore_after_edit(Lead.objects.filter(account=obj))


class StageChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = StageChange
    fields = [
        "at",
        "from_stage",
        "to_stage",
        "transition",
        "actor",
        "reason",
        "note",
        "fit_score",
        "engagement_score",
        "criteria_set",
    ]
    readonly_fields = fields
    ordering = ["at", "pk"]
    extra = 0
    verbose_name = "history entry"
    verbose_name_plural = "History (stage changes, oldest first)"


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "name",
        "account",
        "stage",
        "owner",
        "source",
        "product_line",
        "priority",
        "fit_score",
        "engagement_score",
    ]
    list_filter = ["stage", "owner", "source", "product_line", "priority", "archived_at"]
    search_fields = ["email", "first_name", "last_name", "account__name", "account__domain"]
    list_select_related = ["account", "owner", "product_line"]
    autocomplete_fields = ["account"]
    inlines = [StageChangeInline]
    # The lifecycle moves only through leads/services.py: nothing about it is editable here.
    readonly_fields = [
        "stage",
        "stage_entered_at",
        "owner",
        "priority",
        "fit_score",
        "engagement_score",
        "criteria_set",
        "fast_lane_reason",
        "mql_cycle",
        "disputed_in_cycle",
        "recycle_count",
        "follow_up_on",
        "next_step",
        "archived_at",
        "created_at",
        "updated_at",
    ]
    actions = ["archive_leads"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # its fit score and handoff readiness follow the facts just edited
        services.rescore_after_edit(Lead.objects.filter(pk=obj.pk))

    def has_add_permission(self, request):
        # Leads enter through ingestion (forms, API, imports), which scores and routes them.
        return False

    def has_delete_permission(self, request, obj=None):
        # Leads with history are archived, never deleted.
        return (
            obj is not None
            and not obj.stage_changes.exists()
            and super().has_delete_permission(request, obj)
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Archive selected leads")
    def archive_leads(self, request, queryset):
        count = 0
        for lead in queryset:
            try:
                services.archive(lead=lead, by=request.user)
            except services.LeadActionRefused as refused:
                self.message_user(request, f"{lead}: {refused.message}", messages.ERROR)
                return
            count += 1
        self.message_user(request, f"{count} lead(s) archived.", messages.SUCCESS)


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "lead", "from_stage", "to_stage", "transition", "actor", "reason"]
    list_filter = ["transition", "to_stage", "reason"]
    list_select_related = ["lead", "actor", "reason"]
    search_fields = ["lead__email"]
    date_hierarchy = "at"


@admin.register(Touch)
class TouchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "lead", "kind", "outcome", "by"]
    list_filter = ["kind", "outcome"]
    list_select_related = ["lead", "by"]


@admin.register(EngagementEvent)
class EngagementEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "lead", "kind", "content_tag", "url"]
    list_filter = ["kind"]
    list_select_related = ["lead"]
    search_fields = ["lead__email", "external_id"]
