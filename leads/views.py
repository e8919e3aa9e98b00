"""Pages of the lead lifecycle. Each view parses input, calls one service or selector,
and renders; refusals come back from leads/services.py as sentences shown on the page."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from qualification.models import ChecklistItem, Reason
from qualification.selectors import checklist_state, missing_details
from routing.selectors import latest_assignment, running_clocks

from . import services
from .filters import LeadListFilter, MarketingLeadFilter, QueueFilter
from .forms import (
    TRANSITION_FORMS,
    TRANSITION_LABELS,
    ChecklistForm,
    TouchForm,
)
from .guards import is_owner_or_manager
from .models import Lead, StageChange
from .roles import MARKETING_OPS, SALES_MANAGER, SALES_REP, role_of, roles_of
from .selectors import lead_queue_for, timeline, visible_leads, with_list_relations
from .spreadsheet import csv_safe
from .stages import Stage
from .tables import (
    BoundedPaginator,
    MarketingLeadTable,
    NurtureTable,
    QueueTable,
    RejectedTable,
)

DONE_MESSAGES = {
    "engage": "Lead marked engaged",
    "qualify_mql": "Lead is now an MQL",
    "accept": "Lead accepted",
    "reject": "Rejected",
    "qualify_sql": "Qualified to SQL",
    "nurture": "Moved to nurture",
    "convert": "Converted to an opportunity",
    "recycle": "Recycled to nurture",
    "dispute": "Rejection disputed",
    "disqualify": "Disqualified",
}


def home(request):
    """The signed-in user's home: a rep's queue, a manager's team, marketing's leads."""
    role = role_of(request.user)
    if role == SALES_MANAGER:
        return redirect("team")
    if role == MARKETING_OPS:
        return redirect("marketing-leads")
    if role == SALES_REP:
        return redirect("queue")
    return render(request, "leads/home.html")


def _require_role(request, role: str) -> None:
    if role not in roles_of(request.user):
        raise PermissionDenied(f"This page is for {role.lower()}.")


def _lead_for(request, pk: int) -> Lead:
    """The lead if this user may see it; otherwise 404, so existence is not revealed."""
    return get_object_or_404(
        visible_leads(request.user).select_related(
            "account", "owner", "product_line", "criteria_set"
        ),
        pk=pk,
    )


def _next_url(request, lead: Lead) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("lead-detail", args=[lead.pk])


# --- the rep's queue -----------------------------------------------------------------


class QueueView(SingleTableMixin, FilterView):
    table_class = QueueTable
    filterset_class = QueueFilter
    template_name = "leads/queue.html"
    # the table paginates (and counts) once; ListView's own paginator would count again
    table_pagination = {"per_page": 25, "paginator_class": BoundedPaginator}

    def get_queryset(self):
        return lead_queue_for(self.request.user)


# --- the lead page -----------------------------------------------------------------------


def _render_lead(request, lead: Lead, *, bound: dict | None = None, status: int = 200):
    bound = bound or {}
    user = request.user
    available = services.available_transitions(lead, user)
    actions = [
        {
            "name": name,
            "label": TRANSITION_LABELS[name],
            "form": bound.get(name) or TRANSITION_FORMS[name](prefix=name),
            "open": name in bound,
        }
        for name in available
    ]
    blocked = [
        {"label": TRANSITION_LABELS[name], "message": message}
        for name, message in services.blocked_transitions(lead, user)
    ]
    may_work = lead.is_open and is_owner_or_manager(lead, user)
    rows = checklist_state(lead)
    context = {
        "lead": lead,
        "actions": actions,
        "blocked": blocked,
        "score": services.compute_score(lead, timezone.now()),
        "checklist": bound.get("checklist") or ChecklistForm(rows=rows, prefix="checklist"),
        "may_work": may_work,
        "touch_form": bound.get("touch") or TouchForm(prefix="touch"),
        "timeline": timeline(lead),
        "missing": missing_details(lead) if lead.stage == Stage.ACCEPTED else [],
        "assignment": latest_assignment(lead),
        "clocks": running_clocks(lead),
        "now": timezone.now(),
    }
    return render(request, "leads/lead_detail.html", context, status=status)


def lead_detail(request, pk: int):
    return _render_lead(request, _lead_for(request, pk))


@require_POST
def transition(request, pk: int, name: str):
    lead = _lead_for(request, pk)
    form_class = TRANSITION_FORMS.get(name)
    if form_class is None:
        raise Http404("No such action.")
    form = form_class(request.POST, prefix=name)
    if not form.is_valid():
        messages.error(request, "Please correct the highlighted fields.")
        return _render_lead(request, lead, bound={name: form}, status=400)
    try:
        change = services.perform(
            name,
            lead=lead,
            by=request.user,
            seen_stage=request.POST.get("seen_stage"),
            **form.cleaned_data,
        )
    except services.LeadActionRefused as refused:
        # nothing changed; the page keeps what the person typed and says why
        messages.error(request, refused.message)
        if refused.field and refused.field in form.fields:
            form.add_error(refused.field, refused.message)
        return _render_lead(request, lead, bound={name: form}, status=409)
    # a recycle past the limit disqualifies: say what happened, not what was asked
    text = DONE_MESSAGES[change.transition]
    if change.reason is not None:
        text = f"{text}: {change.reason.label}"
    messages.success(request, text)
    if not visible_leads(request.user).filter(pk=lead.pk).exists():
        return redirect("home")  # e.g. a disputed lead went to the manager
    return redirect(_next_url(request, lead))


@require_POST
def log_touch(request, pk: int):
    lead = _lead_for(request, pk)
    form = TouchForm(request.POST, prefix="touch")
    if not form.is_valid():
        messages.error(request, "Please correct the touch's fields.")
        return _render_lead(request, lead, bound={"touch": form}, status=400)
    try:
        touch = services.log_touch(lead=lead, by=request.user, **form.cleaned_data)
    except services.LeadActionRefused as refused:
        messages.error(request, refused.message)
        return _render_lead(request, lead, bound={"touch": form}, status=409)
    messages.success(request, f"{touch.get_kind_display()} logged")
    return redirect("lead-detail", pk=lead.pk)


@require_POST
def save_checklist(request, pk: int):
    lead = _lead_for(request, pk)
    form = ChecklistForm(request.POST, rows=checklist_state(lead), prefix="checklist")
    if not form.is_valid():
        messages.error(request, "Each checklist item needs an answer.")
        return _render_lead(request, lead, bound={"checklist": form}, status=400)
    items = {i.pk: i for i in ChecklistItem.objects.filter(criteria_set_id=lead.criteria_set_id)}
    saved = 0
    try:
        for item_id, answer, evidence in form.changed_answers():
            services.answer_checklist(
                lead=lead, by=request.user, item=items[item_id], answer=answer, evidence=evidence
            )
            saved += 1
    except services.LeadActionRefused as refused:
        messages.error(request, refused.message)
        return _render_lead(request, lead, bound={"checklist": form}, status=409)
    messages.success(request, f"Checklist saved ({saved} answer{'s' if saved != 1 else ''})")
    return redirect("lead-detail", pk=lead.pk)


# --- marketing ---------------------------------------------------------------------------


def _latest_change(kinds: tuple[str, ...], field: str):
    return Subquery(
        StageChange.objects.filter(lead=OuterRef("pk"), transition__in=kinds)
        .order_by("-at", "-pk")
        .values(field)[:1]
    )


class MarketingMixin:
    def dispatch(self, request, *args, **kwargs):
        _require_role(request, MARKETING_OPS)
        return super().dispatch(request, *args, **kwargs)


class MarketingLeadsView(MarketingMixin, SingleTableMixin, FilterView):
    table_class = MarketingLeadTable
    filterset_class = MarketingLeadFilter
    template_name = "leads/marketing_leads.html"
    table_pagination = {"per_page": 50, "paginator_class": BoundedPaginator}

    def get_queryset(self):
        return with_list_relations(Lead.objects.filter(archived_at__isnull=True)).order_by(
            "-created_at", "-pk"
        )


CSV_COLUMNS = [
    ("id", lambda lead: lead.pk),
    ("email", lambda lead: lead.email),
    ("first_name", lambda lead: lead.first_name),
    ("last_name", lambda lead: lead.last_name),
    ("company", lambda lead: lead.account.name if lead.account else ""),
    ("country", lambda lead: lead.country),
    ("stage", lambda lead: lead.stage),
    ("owner", lambda lead: lead.owner.username if lead.owner else ""),
    ("priority", lambda lead: lead.priority),
    ("source", lambda lead: lead.source),
    ("campaign", lambda lead: lead.campaign),
    ("product_line", lambda lead: lead.product_line.code if lead.product_line else ""),
    ("fit_score", lambda lead: lead.fit_score),
    ("engagement_score", lambda lead: lead.engagement_score),
    ("created_at", lambda lead: lead.created_at.isoformat()),
    ("stage_entered_at", lambda lead: lead.stage_entered_at.isoformat()),
]


class _Echo:
    def write(self, value):
        return value


def marketing_leads_csv(request):
    """The lead list with the same filters as the page, as CSV."""
    _require_role(request, MARKETING_OPS)
    leads = Lead.objects.filter(archived_at__isnull=True).select_related(
        "account", "owner", "product_line"
    )
    filtered = MarketingLeadFilter(request.GET, queryset=leads.order_by("-created_at", "-pk")).qs
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow([name for name, _ in CSV_COLUMNS])
        for lead in filtered.iterator(chunk_size=2000):
            yield writer.writerow([csv_safe(get(lead)) for _, get in CSV_COLUMNS])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="handoff-leads.csv"'
    return response


class RejectedQueueView(MarketingMixin, SingleTableMixin, FilterView):
    table_class = RejectedTable
    filterset_class = LeadListFilter
    template_name = "leads/marketing_rejected.html"
    table_pagination = {"per_page": 50, "paginator_class": BoundedPaginator}

    def get_queryset(self):
        return (
            Lead.objects.filter(stage=Stage.REJECTED, archived_at__isnull=True)
            .select_related("account", "owner")
            .annotate(
                rejected_reason=_latest_change(("reject",), "reason__label"),
                rejected_note=_latest_change(("reject",), "note"),
            )
            .order_by("stage_entered_at", "pk")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["disqualify_reasons"] = Reason.objects.filter(
            kind=Reason.Kind.DISQUALIFICATION, active=True, system=False
        )
        return context


@require_POST
def rejected_bulk(request):
    """One action, one reason and one note for every selected rejected lead."""
    _require_role(request, MARKETING_OPS)
    action = request.POST.get("action")
    if action not in ("recycle", "dispute", "disqualify"):
        messages.error(request, "Choose recycle, dispute or disqualify.")
        return redirect("marketing-rejected")
    ids = [int(i) for i in request.POST.getlist("leads") if i.isdigit()]
    if not ids:
        messages.error(request, "Select at least one lead.")
        return redirect("marketing-rejected")
    inputs = {"note": request.POST.get("note", "")}
    if action == "disqualify":
        inputs["reason"] = Reason.objects.filter(pk=request.POST.get("reason") or None).first()
    done, refused = 0, []
    for lead in Lead.objects.filter(pk__in=ids, stage=Stage.REJECTED).order_by("pk"):
        try:
            services.perform(action, lead=lead, by=request.user, **inputs)
            done += 1
        except services.LeadActionRefused as error:
            refused.append(f"{lead.name}: {error.message}")
    if done:
        messages.success(request, f"{DONE_MESSAGES[action]}: {done} lead{'s' if done > 1 else ''}")
    for text in refused[:10]:
        messages.error(request, text)
    return redirect("marketing-rejected")


class NurtureListView(MarketingMixin, SingleTableMixin, FilterView):
    table_class = NurtureTable
    filterset_class = LeadListFilter
    template_name = "leads/marketing_nurture.html"
    table_pagination = {"per_page": 50, "paginator_class": BoundedPaginator}

    def get_queryset(self):
        return (
            Lead.objects.filter(stage=Stage.NURTURE, archived_at__isnull=True)
            .select_related("account", "owner")
            .annotate(nurture_reason=_latest_change(("nurture",), "reason__label"))
            .order_by("follow_up_on", "pk")
        )
