"""The report pages: parse the filters, call one section builder, render HTML or CSV.

Reports are for sales managers and marketing ops (others get 403). What a report covers
is decided by reporting.filters (the leads the user may see, narrowed by the filters);
the numbers by reporting.selectors; the layout by reporting.sections.
"""

from __future__ import annotations

import csv
import io

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from leads.roles import MARKETING_OPS, SALES_MANAGER, roles_of
from leads.spreadsheet import csv_safe

from .filters import describe, report_filter, scope_of
from .sections import REPORTS, Page


def _require_report_access(request) -> None:
    if not roles_of(request.user) & {SALES_MANAGER, MARKETING_OPS}:
        raise PermissionDenied("Reports are for sales managers and marketing ops.")


def index(request):
    _require_report_access(request)
    return render(
        request,
        "reporting/index.html",
        {"reports": REPORTS.values(), "query": request.GET.urlencode()},
    )


def report(request, slug: str, as_csv: bool = False):
    _require_report_access(request)
    spec = REPORTS.get(slug)
    if spec is None:
        raise Http404("No such report.")
    now = timezone.now()
    filters = report_filter(request, now=now)
    scope = scope_of(filters, now=now)
    page = spec.build(scope, request.GET) if scope is not None else None
    if as_csv or request.GET.get("format") == "csv":
        if page is None:
            return HttpResponse(
                "Invalid filters: " + filters.form.errors.as_text(),
                status=400,
                content_type="text/plain",
            )
        return _csv_response(spec.slug, page, describe(filters))
    query = request.GET.copy()
    query.pop("format", None)
    context = {
        "spec": spec,
        "page": page,
        "filter": filters,
        "reports": REPORTS.values(),
        "query": query.urlencode(),
        "csv_url": reverse(f"reports-{slug}-csv") + (f"?{query.urlencode()}" if query else ""),
        "described": describe(filters),
    }
    return render(request, "reporting/report.html", context, status=200 if page else 400)


def _csv_response(slug: str, page: Page, described: str) -> HttpResponse:
    """Every section's table, one after the other: its title, its header, its rows and a
    blank line; the filters on top. Numbers are plain (percentages as 47.62, not 47.6%)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([page.title])
    writer.writerow([described])
    writer.writerow([])
    if page.empty:
        writer.writerow([page.empty_text])
    for line in page.headlines:
        writer.writerow([csv_safe(line)])
    if page.headlines:
        writer.writerow([])
    for section in page.sections:
        writer.writerow([section.title])
        writer.writerow(section.table.csv_header())
        for row in section.table.csv_rows():
            writer.writerow([csv_safe(cell) for cell in row])
        writer.writerow([])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="handoff-{slug}-{stamp}.csv"'
    return response
