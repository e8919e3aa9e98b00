import django_tables2 as tables
from django.utils.html import format_html

from leads.tables import BaseLeadTable, PersonColumn, SlaColumn


class TeamLeadTable(BaseLeadTable):
    selected = tables.CheckBoxColumn(accessor="pk", orderable=False)
    owner = PersonColumn(default="—")
    sla = SlaColumn()

    class Meta(BaseLeadTable.Meta):
        sequence = (
            "selected",
            "company",
            "contact",
            "owner",
            "stage",
            "sla",
            "priority",
            "source",
            "fit_score",
            "engagement_score",
        )
        orderable = False  # breaches first is the order that matters here
        empty_text = "Your team has no open leads."

    def render_selected(self, value, record):
        return format_html(
            '<input type="checkbox" name="leads" value="{}" form="reassign-form" '
            'aria-label="Select {}">',
            value,
            record.name,
        )
