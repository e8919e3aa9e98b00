"""The filter form every report shares, and the scope it turns into.

Period: the date a lead first became an MQL (cohort style), both days included; by
default the last 90 days. Whom a report covers: the leads the user may see
(leads.selectors.visible_leads: marketing ops all, a sales manager their own and their
teams' members' leads), narrowed by team (the team a lead was routed to; a manager may
pick only teams they manage), rep (the lead's owner), source channel, campaign, segment,
product line and criteria version.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from leads.filters import ListedModelChoiceFilter
from leads.forms import ListedModelChoiceField
from leads.models import Account, Lead
from leads.roles import MARKETING_OPS, SALES_MANAGER, SALES_REP, roles_of
from leads.selectors import visible_leads
from qualification.models import CriteriaSet, ProductLine
from routing.models import Team

from .models import ReportTargets
from .selectors import ReportScope, Teams

DEFAULT_DAYS = 90
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ReportFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        start, end = data.get("mql_from"), data.get("mql_to")
        if start and end and start > end:
            raise forms.ValidationError("The period must end on or after its first day.")
        return data


class PersonChoiceField(ListedModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.username


class PersonFilter(ListedModelChoiceFilter):
    field_class = PersonChoiceField


class ReportFilter(django_filters.FilterSet):
    mql_from = django_filters.DateFilter(label="MQL from", method="in_period", widget=DATE_INPUT)
    mql_to = django_filters.DateFilter(label="MQL to", method="in_period", widget=DATE_INPUT)
    team = ListedModelChoiceFilter(
        label="Team", queryset=Team.objects.none(), method="of_team", empty_label="All teams"
    )
    owner = PersonFilter(
        label="Rep", queryset=get_user_model().objects.none(), empty_label="Anyone"
    )
    source = django_filters.ChoiceFilter(
        label="Source channel", choices=Lead.Source.choices, empty_label="Any"
    )
    campaign = django_filters.ChoiceFilter(label="Campaign", choices=(), empty_label="Any")
    segment = django_filters.ChoiceFilter(
        label="Segment",
        field_name="account__segment",
        choices=Account.Segment.choices,
        empty_label="Any",
    )
    product_line = ListedModelChoiceFilter(
        label="Product line", queryset=ProductLine.objects.all(), empty_label="Any"
    )
    criteria_set = ListedModelChoiceFilter(
        label="Criteria version",
        queryset=CriteriaSet.objects.exclude(status=CriteriaSet.Status.DRAFT).order_by(
            "name", "version"
        ),
        empty_label="Any",
    )

    class Meta:
        model = Lead
        form = ReportFilterForm
        fields = [
            "mql_from",
            "mql_to",
            "team",
            "owner",
            "source",
            "campaign",
            "segment",
            "product_line",
            "criteria_set",
        ]

    def __init__(self, data=None, *args, user, today: dt.date, **kwargs):
        data = data.copy() if data is not None else {}
        # the default period, shown in the form and used by the CSV link alike
        if not data.get("mql_from"):
            data["mql_from"] = (today - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        if not data.get("mql_to"):
            data["mql_to"] = today.isoformat()
        super().__init__(data, *args, **kwargs)
        self.user = user
        marketing = MARKETING_OPS in roles_of(user)
        self.filters["team"].queryset = (
            Team.objects.all() if marketing else Team.objects.filter(manager=user)
        ).order_by("name")
        if not marketing:
            self.filters["team"].extra["empty_label"] = "All my teams"
        users = get_user_model().objects.order_by("first_name", "last_name", "username")
        self.filters["owner"].queryset = (
            users.filter(groups__name__in=[SALES_REP, SALES_MANAGER]).distinct()
            if marketing
            else users.filter(Q(team_memberships__team__manager=user) | Q(pk=user.pk)).distinct()
        )
        self.filters["campaign"].extra["choices"] = [(c, c) for c in campaigns(self.queryset)]

    def in_period(self, queryset, name, value):
        # the period picks the cohort (ReportScope.cohort), not the leads in scope
        return queryset

    def of_team(self, queryset, name, value):
        return queryset.filter(Teams.load().leads_of(value.pk))


def campaigns(leads: QuerySet[Lead]) -> list[str]:
    """The distinct campaign names of `leads`, in order. A handful of names among a million
    leads: instead of reading every lead (DISTINCT), skip from one name to the next along
    the lead_campaign index (a recursive query, one index probe per name)."""
    named = leads.exclude(campaign="").order_by("campaign").values("campaign")
    first_sql, first_params = named[:1].query.sql_with_params()
    after = named.filter(campaign__gt=RawSQL("names.name", ()))
    next_sql, next_params = after[:1].query.sql_with_params()
    sql = f"""
        WITH RECURSIVE names(name) AS (
            SELECT ({first_sql})
            UNION ALL
            SELECT ({next_sql}) FROM names WHERE names.name IS NOT NULL
        )
        SELECT name FROM names WHERE name IS NOT NULL
    """
    with connections[leads.db].cursor() as cursor:
        cursor.execute(sql, (*first_params, *next_params))
        return [row[0] for row in cursor.fetchall()]


def report_filter(request, *, now: dt.datetime | None = None) -> ReportFilter:
    now = now or timezone.now()
    return ReportFilter(
        request.GET,
        queryset=visible_leads(request.user),
        user=request.user,
        today=timezone.localdate(now),
        request=request,
    )


def scope_of(filterset: ReportFilter, *, now: dt.datetime | None = None) -> ReportScope | None:
    """The report scope the (valid) filters describe; None when they are invalid."""
    if not filterset.is_valid():
        return None
    now = now or timezone.now()
    data = filterset.form.cleaned_data
    zone = timezone.get_current_timezone()
    start = dt.datetime.combine(data["mql_from"], dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(data["mql_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    marketing = MARKETING_OPS in roles_of(filterset.user)
    return ReportScope(
        leads=filterset.qs,
        start=start,
        end=end,
        now=now,
        targets=ReportTargets.load(),
        covers_unowned=marketing and not data.get("team") and not data.get("owner"),
    )


def describe(filterset: ReportFilter) -> str:
    """The filters in one line, for the CSV header and the page."""
    if not filterset.is_valid():
        return ""
    data = filterset.form.cleaned_data
    parts = [f"MQL {data['mql_from']:%Y-%m-%d} to {data['mql_to']:%Y-%m-%d}"]
    for name, f in filterset.filters.items():
        value = data.get(name)
        if name in ("mql_from", "mql_to") or value in (None, ""):
            continue
        shown = value
        if hasattr(value, "get_full_name"):
            shown = value.get_full_name() or value.username
        if isinstance(f, django_filters.ChoiceFilter):
            shown = dict(f.extra.get("choices") or ()).get(value, value)
        parts.append(f"{f.label or name.replace('_', ' ')}: {shown}")
    return "; ".join(parts)
