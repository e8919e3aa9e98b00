from django.contrib import admin

from .models import ChecklistItem, CriteriaSet, ProductLine, Reason


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


class ChecklistItemInline(admin.TabularInline):
    model = ChecklistItem
    extra = 0
    fields = ["order", "dimension", "question", "help_text", "must_have"]


@admin.register(CriteriaSet)
class CriteriaSetAdmin(admin.ModelAdmin):
    list_display = ["name", "product_line", "version", "status", "fit_threshold"]
    list_filter = ["status", "product_line", "sales_motion"]
    inlines = [ChecklistItemInline]
