import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q

from qualification.models import ProductLine

from .forms import ListedChoices, PlainSelect
from .models import Lead
from .stages import Stage


class ListedFilterChoices(django_filters.fields.ModelChoiceIterator, ListedChoices):
    """django-filter's choices (with its "null" choice) read in one plain query."""


class ListedFilterChoiceField(django_filters.fields.ModelChoiceField):
    iterator = ListedFilterChoices


class ListedModelChoiceFilter(django_filters.ModelChoiceFilter):
    """ModelChoiceFilter whose choices are read in one plain query (ListedChoices)."""

    field_class = ListedFilterChoiceField


class LeadListFilter(django_filters.FilterSet):
    priority = django_filters.ChoiceFilter(
        choices=Lead.Priority.choices, empty_label="Any", widget=PlainSelect
    )
    source = django_filters.ChoiceFilter(
        choices=Lead.Source.choices, empty_label="Any", widget=PlainSelect
    )
    product_line = ListedModelChoiceFilter(
        queryset=ProductLine.objects.all(), empty_label="Any", widget=PlainSelect
    )

    class Meta:
        model = Lead
        fields = ["priority", "source", "product_line"]


class QueueFilter(LeadListFilter):
    stage = django_filters.ChoiceFilter(
        choices=[(Stage.MQL, "MQL"), (Stage.ACCEPTED, "Accepted")],
        empty_label="All stages",
        widget=PlainSelect,
    )

    class Meta:
        model = Lead
        fields = ["stage", "priority", "source", "product_line"]


class MarketingLeadFilter(QueueFilter):
    q = django_filters.CharFilter(method="search", label="Search")
    stage = django_filters.ChoiceFilter(
        choices=Stage.choices, empty_label="All stages", widget=PlainSelect
    )
    owner = ListedModelChoiceFilter(
        queryset=get_user_model().objects.filter(owned_leads__isnull=False).distinct(),
        empty_label="Anyone",
        widget=PlainSelect,
    )
    created_after = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Created from"
    )
    created_before = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="Created to"
    )
    campaign = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Lead
        fields = ["q", "stage", "priority", "source", "product_line", "owner", "campaign"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(account__name__icontains=value)
        )
