import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from .models import Lead


def _label(bound_column) -> str:
    return str(bound_column.header)


class LeadLinkColumn(tables.Column):
    def render(self, record):
        return format_html(
            '<a href="{}">{}</a><br><small>{}</small>',
            reverse("lead-detail", args=[record.pk]),
            record.name,
            record.email,
        )


class BaseLeadTable(tables.Table):
    company = tables.Column(accessor="account__name", verbose_name="Company", default="—")
    contact = LeadLinkColumn(accessor="last_name", verbose_name="Contact")
    stage = tables.Column()
    source = tables.Column()
    product_line = tables.Column(verbose_name="Product line", default="—")
    priority = tables.Column()
    fit_score = tables.Column(
        verbose_name="Fit", attrs={"td": {"class": "num", "data-label": _label}}
    )
    engagement_score = tables.Column(
        verbose_name="Engagement", attrs={"td": {"class": "num", "data-label": _label}}
    )

    class Meta:
        model = Lead
        fields = ()
        # data-label: on a phone each row becomes a card whose cells name their column
        attrs = {"class": "leads", "td": {"data-label": _label}}
        empty_text = "No leads here."
        template_name = "django_tables2/table.html"

    def render_priority(self, value, record):
        return format_html('<span class="prio prio-{}">{}</span>', record.priority, value)


class QueueTable(BaseLeadTable):
    sla = tables.TemplateColumn(
        "{% load handoff %}{% sla_badge record %}", verbose_name="SLA", orderable=False
    )
    actions = tables.TemplateColumn(
        template_name="leads/_queue_actions.html", verbose_name="Actions", orderable=False
    )

    class Meta(BaseLeadTable.Meta):
        sequence = (
            "company",
            "contact",
            "stage",
            "sla",
            "priority",
            "source",
            "product_line",
            "fit_score",
            "engagement_score",
            "actions",
        )
        empty_text = "Your queue is empty: no MQLs to decide, no accepted leads to work."


class MarketingLeadTable(BaseLeadTable):
    owner = tables.Column(default="—")
    created_at = tables.DateTimeColumn(verbose_name="Created", format="Y-m-d")

    class Meta(BaseLeadTable.Meta):
        sequence = (
            "company",
            "contact",
            "stage",
            "owner",
            "priority",
            "source",
            "product_line",
            "fit_score",
            "engagement_score",
            "created_at",
        )


class RejectedTable(tables.Table):
    selected = tables.CheckBoxColumn(
        accessor="pk", attrs={"th__input": {"aria-label": "Select all"}}
    )
    contact = LeadLinkColumn(accessor="last_name", verbose_name="Lead")
    company = tables.Column(accessor="account__name", verbose_name="Company", default="—")
    owner = tables.Column(verbose_name="Rejected by", default="—")
    rejected_reason = tables.Column(verbose_name="Reason", default="—")
    rejected_note = tables.Column(verbose_name="Rep's note", default="")
    stage_entered_at = tables.DateTimeColumn(verbose_name="Rejected", format="Y-m-d H:i")
    recycle_count = tables.Column(verbose_name="Recycled")

    class Meta:
        model = Lead
        fields = ()
        attrs = BaseLeadTable.Meta.attrs
        empty_text = "No rejected leads are waiting for marketing."

    def render_selected(self, value, record):
        return format_html(
            '<input type="checkbox" name="leads" value="{}" aria-label="Select {}">',
            value,
            record.name,
        )


class NurtureTable(tables.Table):
    contact = LeadLinkColumn(accessor="last_name", verbose_name="Lead")
    company = tables.Column(accessor="account__name", verbose_name="Company", default="—")
    owner = tables.Column(default="—")
    follow_up_on = tables.DateColumn(verbose_name="Follow up on", default="—")
    nurture_reason = tables.Column(verbose_name="Reason", default="—")
    stage_entered_at = tables.DateTimeColumn(verbose_name="In nurture since", format="Y-m-d")
    engagement_score = tables.Column(verbose_name="Engagement")

    class Meta:
        model = Lead
        fields = ()
        attrs = BaseLeadTable.Meta.attrs
        empty_text = "No leads in nurture."
