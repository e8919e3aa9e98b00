"""GET /api/v1/reports/{name}/: the report pages' numbers as JSON, with the same filters
(MQL date range, team, rep, channel, campaign, segment, product line, criteria version)
and the same access rules. The numbers come from the same section builders as the HTML
and CSV, so the three never disagree."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.roles import MARKETING_OPS, SALES_MANAGER, roles_of
from reporting.filters import report_filter, scope_of
from reporting.sections import REPORTS, Page

from .views import COMMON_ERRORS, ApiMixin, errors_response

# API names (stable for integrations) -> report pages
API_REPORTS = {
    "funnel": "funnel",
    "sla": "sla",
    "calibration": "calibration",
    "reasons": "rejections",
    "score-bands": "scores",
}
FILTERS = [
    ("mql_from", OpenApiTypes.DATE, "First day of the MQL cohort (default: a year ago)."),
    ("mql_to", OpenApiTypes.DATE, "Last day of the MQL cohort (default: today)."),
    ("team", OpenApiTypes.INT, "Team id (managers: a team they manage)."),
    ("rep", OpenApiTypes.INT, "The lead's owner (user id)."),
    ("source", OpenApiTypes.STR, "Source channel."),
    ("campaign", OpenApiTypes.STR, "Campaign (contains)."),
    ("segment", OpenApiTypes.STR, "Account segment."),
    ("product_line", OpenApiTypes.INT, "Product line id."),
    ("criteria_set", OpenApiTypes.INT, "Criteria version id."),
]


def page_as_json(page: Page) -> dict[str, Any]:
    return {
        "title": page.title,
        "empty": page.empty,
        "message": page.empty_text if page.empty else "",
        "headlines": list(page.headlines),
        "sections": [
            {
                "title": section.title,
                "columns": section.table.csv_header(),
                "rows": section.table.csv_rows(),
            }
            for section in page.sections
        ],
    }


class ReportView(ApiMixin, APIView):
    @extend_schema(
        operation_id="reports_retrieve",
        summary="One report as JSON: its headlines and its tables",
        parameters=[
            OpenApiParameter(
                "name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(API_REPORTS)
            ),
            *(OpenApiParameter(n, t, description=d) for n, t, d in FILTERS),
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            400: errors_response("A filter is not valid; each error names its filter."),
            404: errors_response("No report by that name."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, name: str):
        if name not in API_REPORTS:
            raise NotFound(f"No report called '{name}'. Use one of: {', '.join(API_REPORTS)}.")
        if not roles_of(request.user) & {SALES_MANAGER, MARKETING_OPS}:
            raise PermissionDenied("Reports are for sales managers and marketing ops.")
        known = {name for name, _, _ in FILTERS}
        problems = {}
        for key in request.query_params:
            values = request.query_params.getlist(key)
            if key not in known:
                problems[key] = [f"Unknown filter. Use: {', '.join(sorted(known))}."]
            elif len(values) != 1 or not values[0].strip():
                problems[key] = ["Give one non-empty value, or leave the filter out."]
        if problems:
            raise ValidationError(problems)
        now = timezone.now()
        filters = report_filter(request, now=now)
        scope = scope_of(filters, now=now)
        if scope is None:
            raise ValidationError(
                {field: [str(e) for e in errors] for field, errors in filters.form.errors.items()}
            )
        page = REPORTS[API_REPORTS[name]].build(scope, request.GET)
        return Response(page_as_json(page))
