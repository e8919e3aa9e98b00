import django_tables2 as tables
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import format_html

from .models import Lead


class LabelledTable(tables.Table):
    """On a phone each row becomes a card whose cells name their column (data-label).
    The labels are set once per table: callables in attrs cost a signature inspection
    per cell."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for bound in self.columns:
            td = dict(bound.column.attrs.get("td", {}))
            td["data-label"] = str(bound.header)
            bound.column.attrs = {**bound.column.attrs, "td": td}


class SlaColumn(tables.Column):
    """The most urgent running clock, as text and colour (see leads.templatetags)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("verbose_name", "SLA")
        kwargs.setdefault("orderable", False)
        kwargs.setdefault("empty_values", ())
        super().__init__(accessor="pk", **kwargs)

    def render(self, record):
        from .templatetags.handoff import sla_badge

        return sla_badge(record)


class LeadLinkColumn(tables.Column):
    def render(self, record):
        return format_html(
            '<a href="{}">{}</a><br><small>{}</small>',
            reverse("lead-detail", args=[record.pk]),
            record.name,
            record.email,
        )


class BaseLeadTable(LabelledTable):
    company = tables.Column(accessor="account__name", verbose_name="Company", default="—")
    contact = LeadLinkColumn(accessor="last_name", verbose_name="Contact")
    stage = tables.Column()
    source = tables.Column()
    product_line = tables.Column(verbose_name="Product line", default="—")
    priority = tables.Column()
    fit_score = tables.Column(verbose_name="Fit", attrs={"td": {"class": "num"}})
    engagement_score = tables.Column(verbose_name="Engagement", attrs={"td": {"class": "num"}})

    class Meta:
        model = Lead
        fields = ()
        attrs = {"class": "leads"}
        empty_text = "No leads here."
        template_name = "django_tables2/table.html"

    def render_priority(self, value, record):
        return format_html('<span class="prio prio-{}">{}</span>', record.priority, value)


class QueueTable(BaseLeadTable):
    sla = SlaColumn()
    actions = tables.Column(accessor="pk", verbose_name="Actions", orderable=False)

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

    def render_actions(self, record):
        if record.stage != "mql":
            return format_html(
                '<a class="button secondary" href="{}">Work it</a>',
                reverse("lead-detail", args=[record.pk]),
            )
        return format_html(
            '<form method="post" action="{}" class="inline">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<input type="hidden" name="seen_stage" value="mql">'
            '<input type="hidden" name="next" value="{}">'
            '<button type="submit" aria-label="Accept {}">Accept</button></form> '
            '<a class="button secondary" href="{}#action-reject" '
            'aria-label="Reject {} with a reason">Reject…</a>',
            reverse("lead-transition", args=[record.pk, "accept"]),
            get_token(self.request),
            self.request.get_full_path(),
            record.name,
            reverse("lead-detail", args=[record.pk]),
            record.name,
        )


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


class RejectedTable(LabelledTable):
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
        attrs = {"class": "leads"}
        empty_text = "No rejected leads are waiting for marketing."

    def render_selected(self, value, record):
        return format_html(
            '<input type="checkbox" name="leads" value="{}" aria-label="Select {}">',
            value,
            record.name,
        )


class NurtureTable(LabelledTable):
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
        attrs = {"class": "leads"}
        empty_text = "No leads in nurture."
