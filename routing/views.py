"""The manager's team page and every user's notifications."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from leads.filters import LeadListFilter
from leads.roles import SALES_MANAGER, roles_of
from leads.selectors import (
    URGENT_FIRST,
    UrgentFirst,
    team_owner_ids,
    visible_leads,
    with_list_relations,
)
from leads.services import LeadActionRefused
from leads.stages import Stage
from leads.tables import BoundedPaginator, SlicedData

from . import services
from .models import TeamMembership
from .selectors import notifications_for
from .tables import TeamLeadTable

TEAM_STAGES = (Stage.MQL, Stage.ACCEPTED, Stage.SQL)


def team_members(manager):
    """Whom a manager can hand leads to: the members of the teams they manage."""
    ids = TeamMembership.objects.filter(team__manager=manager, active=True).values("user_id")
    return (
        get_user_model()
        .objects.filter(Q(pk__in=ids) | Q(pk=manager.pk))
        .order_by("first_name", "username")
    )


class TeamView(SingleTableMixin, FilterView):
    """The team's open leads with owners and SLA state, breaches first."""

    table_class = TeamLeadTable
    filterset_class = LeadListFilter
    template_name = "routing/team.html"
    table_pagination = {"per_page": 50, "paginator_class": BoundedPaginator}

    def dispatch(self, request, *args, **kwargs):
        if SALES_MANAGER not in roles_of(request.user):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("This page is for sales managers.")
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        leads = visible_leads(self.request.user).filter(stage__in=TEAM_STAGES)
        return with_list_relations(leads).order_by(*URGENT_FIRST)

    def get_table_data(self):
        # most urgent first, merged from each owner's first rows of the lead_team_by_due
        # index, instead of sorting the whole team's backlog (see UrgentFirst)
        owners = team_owner_ids(self.request.user)
        return SlicedData(UrgentFirst(self.object_list, owners))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["members"] = team_members(self.request.user)
        return context


@require_POST
def reassign(request):
    """Reassign one or several leads (bulk) to one person, with one note."""
    ids = [int(i) for i in request.POST.getlist("leads") if i.isdigit()]
    to = get_user_model().objects.filter(pk=request.POST.get("to") or None).first()
    if not ids:
        messages.error(request, "Select at least one lead to reassign.")
        return redirect("team")
    done, refused = 0, []
    for lead in visible_leads(request.user).filter(pk__in=ids).order_by("pk"):
        try:
            services.reassign(lead=lead, to=to, by=request.user, note=request.POST.get("note", ""))
            done += 1
        except LeadActionRefused as error:
            refused.append(f"{lead.name}: {error.message}")
    if done:
        name = to.get_full_name() or to.username
        messages.success(request, f"Reassigned {done} lead{'s' if done > 1 else ''} to {name}")
    for text in refused[:10]:
        messages.error(request, text)
    target = request.POST.get("next")
    if target and target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect("team")


def notifications(request):
    rows = list(notifications_for(request.user)[:100])
    return render(request, "routing/notifications.html", {"notifications": rows})


@require_POST
def mark_all_read(request):
    count = services.mark_read(user=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read")
    return redirect("notifications")
