from django.contrib import admin

from .models import ReportTargets


@admin.register(ReportTargets)
class ReportTargetsAdmin(admin.ModelAdmin):
    """A single row: marketing ops edit it, nobody adds a second one or deletes it."""

    fieldsets = [
        (
            "MQL → SQL band (funnel and score calibration)",
            {
                "fields": [
                    "mql_sql_tighten_below",
                    "mql_sql_industry_average",
                    "mql_sql_target_low",
                    "mql_sql_target_high",
                    "mql_sql_too_high_above",
                ]
            },
        ),
        (
            "Service-level agreement",
            {"fields": ["monthly_mql_commitment", "acceptance_target"]},
        ),
        ("Rep calibration", {"fields": ["calibration_min_sample"]}),
    ]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not ReportTargets.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
