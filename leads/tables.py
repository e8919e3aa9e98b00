from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any

import django_tables2 as tables
from django.conf import settings
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import QuerySet, Value
from django.middleware.csrf import get_token
from django.utils.encoding import force_str
from django.utils.formats import localize
from django.utils.functional import cached_property
from django.utils.hashable import make_hashable
from django.utils.html import conditional_escape, escape, format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django_tables2.data import TableData
from django_tables2.utils import A

from .links import url_with_ids
from .models import Lead
from .selectors import person_name

TABLE_TEMPLATE = "leads/_table.html"


class BoundedPaginator(Paginator):
    """Counts the rows only up to a bound (and at least one page past the page asked
    for), so that a list of tens of thousands of leads does not count them all on every
    request. Below the bound the count is exact; above it `more` is true and the page
    says "more than N". The cost of the count grows with the page asked for, not with
    the data (a manager's team page at a million leads counted about 90,000 rows)."""

    bound = 1000

    def __init__(self, object_list: Any, per_page: int, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.asked = 1
        self.more = False

    def validate_number(self, number: Any) -> int:
        with contextlib.suppress(TypeError, ValueError):
            self.asked = max(1, int(number))
        return super().validate_number(number)

    @cached_property
    def count(self) -> int:
        limit = max(self.bound, (self.asked + 1) * self.per_page)
        counted = count_up_to(self.object_list, limit + 1)
        self.more = counted > limit
        return min(counted, limit)


def count_up_to(rows: Any, limit: int) -> int:
    """How many rows there are, counting no further than `limit`. `rows` is what a
    table's paginator gets: django-tables2's rows around the table's data."""
    data = getattr(getattr(rows, "data", None), "data", rows)
    if isinstance(data, QuerySet):
        data = data.order_by()
        if connections[data.db].vendor == "postgresql":
            # selecting no column, PostgreSQL reads at most `limit` entries of an index
            # (the queue: an index-only scan of lead_queue instead of a bitmap of two)
            data = data.values(counted=Value(1))
        return data[:limit].count()
    if hasattr(data, "count_up_to"):
        return data.count_up_to(limit)
    return min(len(rows), limit)


class SlicedData(TableData):
    """Table data read a page at a time from a sequence that slices lazily (such as
    leads.selectors.UrgentFirst); django-tables2 would otherwise copy it into a list."""

    def __len__(self) -> int:
        return len(self.data)


@functools.lru_cache(maxsize=512)
def _parameters(function: Any) -> tuple[bool, tuple[str, ...]]:
    params = inspect.signature(function).parameters.values()
    takes_all = any(p.kind == p.VAR_KEYWORD for p in params)
    named = tuple(p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
    return takes_all, named


def _arguments(render: Any) -> tuple[bool, tuple[str, ...]]:
    """Whether a render method takes any keyword, and the ones it names: inspected once
    per method, not once per table (a bound method is new on every access)."""
    function = getattr(render, "__func__", None)
    if function is None:
        return _parameters(render)
    takes_all, named = _parameters(function)
    return takes_all, named[1:]  # without self


class _CellWriter:
    """One column's cells, written as django-tables2's template writes them (the same
    value, default, render method, link, localisation and escaping), with everything
    that depends only on the column decided once per table instead of once per cell:
    tables2 inspects the render method's signature and rebuilds the cell attributes for
    every cell, which was most of a list page's time."""

    def __init__(self, table: tables.Table, bound: Any) -> None:
        self.bound = bound
        self.table = table
        column = bound.column
        self.column = column
        self.accessor = A(bound.accessor)
        self.bits = self.accessor.bits
        self.empty_values = column.empty_values
        self.default = bound.default
        self.localize = column.localize
        self.render = bound.render
        self.takes_all, self.wanted = _arguments(bound.render)
        self.display = self._choices_display(table)
        td = column.attrs.get("td", column.attrs.get("cell", {}))
        self.static_attrs = not any(callable(v) for v in td.values())
        self.td_open = self._td_open() if self.static_attrs else None

    def _choices_display(self, table: tables.Table) -> dict[Any, Any] | None:
        # tables2 shows get_FOO_display() for a model field with choices: the same
        # labels, looked up in a dict made once (get_FOO_display rebuilds it per call)
        model = getattr(table._meta, "model", None)
        if model is None:
            return None
        field = self.accessor.get_field(model)
        if field is not None and getattr(field, "choices", None):
            return dict(make_hashable(field.flatchoices))
        return None

    def _td_open(self) -> str:
        return format_html("<td {}>", self.bound.attrs["td"].as_html())

    def resolve(self, record: Any) -> Any:
        # model attributes directly; anything else (dicts, callables) as tables2 does
        current = record
        for bit in self.bits:
            if not isinstance(current, models.Model):
                return self.accessor.resolve(record)
            current = getattr(current, bit)
            if callable(current):
                return self.accessor.resolve(record)
            if current is None:
                break
        return current

    def value(self, record: Any) -> Any:
        try:
            value = self.resolve(record)
        except Exception:
            return None  # a missing relation (no account): the column's default
        if self.display is not None:
            return force_str(self.display.get(make_hashable(value), value), strings_only=True)
        return value

    def content(self, row: Any) -> Any:
        record = row.record
        value = self.value(record)
        if value in self.empty_values:
            return self.default
        offered = {
            "value": value,
            "record": record,
            "column": self.column,
            "bound_column": self.bound,
            "bound_row": row,
            "table": self.table,
        }
        if self.takes_all:
            content = self.render(**offered)
        elif all(name in offered for name in self.wanted):
            content = self.render(**{name: offered[name] for name in self.wanted})
        else:
            content = None
        if self.bound.link:
            content = self.bound.link(content, **offered)
        return content

    def td(self, row: Any) -> str:
        content = self.content(row)
        if type(content) is SafeString:
            text = content
        elif type(content) is str:
            text = escape(content)
        elif type(content) is int and not settings.USE_THOUSAND_SEPARATOR:
            text = str(content)
        elif self.localize is None:
            text = conditional_escape(localize(template_localtime(content)))
        else:
            text = conditional_escape(localize(content, use_l10n=self.localize))
        if self.td_open is None:
            # attributes computed from the record: tables2's per-cell way
            self.bound.current_record, self.bound.current_value = row.record, content
            return f"{self._td_open()}{text}</td>"
        return f"{self.td_open}{text}</td>"


class LabelledTable(tables.Table):
    """On a phone each row becomes a card whose cells name their column (data-label).
    The labels are set once per table: callables in attrs cost a signature inspection
    per cell. The rows are written by `rows_html` (see _CellWriter) through
    leads/_table.html."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for bound in self.columns:
            td = dict(bound.column.attrs.get("td", {}))
            # the header as text: a select-all column's header is a checkbox
            td["data-label"] = strip_tags(str(bound.header))
            bound.column.attrs = {**bound.column.attrs, "td": td}

    def rows_html(self) -> SafeString:
        writers = [_CellWriter(self, bound) for bound in self.columns]
        # rows whose attributes depend on the row only by being odd or even (no callable
        # in row_attrs) share their opening tag
        static = not any(callable(value) for value in self.row_attrs.values())
        opening: dict[str, str] = {}
        lines = []
        for row in self.paginated_rows:
            cells = "".join(writer.td(row) for writer in writers)
            parity = row.get_even_odd_css_class()
            tr = opening.get(parity) if static else None
            if tr is None:
                tr = opening[parity] = f"<tr {row.attrs.as_html()}>"
            lines.append(f"{tr}{cells}</tr>")
        return mark_safe("\n".join(lines))


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


class PersonColumn(tables.Column):
    """A user as pages name them (their full name, else their username)."""

    def render(self, value):
        return person_name(value)


class LeadLinkColumn(tables.Column):
    def render(self, record):
        return format_html(
            '<a href="{}">{}</a><br><small>{}</small>',
            url_with_ids("lead-detail", record.pk),
            record.name,
            record.email,
        )


# Columns a narrower screen (a tablet, a laptop's half screen) leaves out, so that the row's
# actions stay in view; a phone shows every cell (cards), and the filters still offer them.
OPTIONAL = {"th": {"class": "optional"}, "td": {"class": "optional"}}


class BaseLeadTable(LabelledTable):
    company = tables.Column(accessor="account__name", verbose_name="Company", default="—")
    contact = LeadLinkColumn(accessor="last_name", verbose_name="Contact")
    stage = tables.Column()
    source = tables.Column(attrs=OPTIONAL)
    product_line = tables.Column(verbose_name="Product line", default="—", attrs=OPTIONAL)
    priority = tables.Column()
    fit_score = tables.Column(verbose_name="Fit", attrs={"td": {"class": "num"}})
    engagement_score = tables.Column(verbose_name="Engagement", attrs={"td": {"class": "num"}})

    class Meta:
        model = Lead
        fields = ()
        attrs = {"class": "leads"}
        empty_text = "No leads here."
        template_name = TABLE_TEMPLATE

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
                url_with_ids("lead-detail", record.pk),
            )
        return format_html(
            '<form method="post" action="{}" class="inline">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<input type="hidden" name="seen_stage" value="mql">'
            '<input type="hidden" name="next" value="{}">'
            '<button type="submit" aria-label="Accept {}">Accept</button></form> '
            '<a class="button secondary" href="{}#action-reject" '
            'aria-label="Reject {} with a reason">Reject…</a>',
            url_with_ids("lead-transition", record.pk, "accept"),
            get_token(self.request),
            self.request.get_full_path(),
            record.name,
            url_with_ids("lead-detail", record.pk),
            record.name,
        )


class MarketingLeadTable(BaseLeadTable):
    owner = PersonColumn(default="—")
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
    owner = PersonColumn(verbose_name="Rejected by", default="—")
    rejected_reason = tables.Column(verbose_name="Reason", default="—")
    rejected_note = tables.Column(verbose_name="Rep's note", default="")
    stage_entered_at = tables.DateTimeColumn(verbose_name="Rejected", format="Y-m-d H:i")
    recycle_count = tables.Column(verbose_name="Recycled")

    class Meta:
        model = Lead
        fields = ()
        attrs = {"class": "leads"}
        empty_text = "No rejected leads are waiting for marketing."
        template_name = TABLE_TEMPLATE

    def render_selected(self, value, record):
        return format_html(
            '<input type="checkbox" name="leads" value="{}" aria-label="Select {}">',
            value,
            record.name,
        )


class NurtureTable(LabelledTable):
    contact = LeadLinkColumn(accessor="last_name", verbose_name="Lead")
    company = tables.Column(accessor="account__name", verbose_name="Company", default="—")
    owner = PersonColumn(default="—")
    follow_up_on = tables.DateColumn(verbose_name="Follow up on", default="—")
    nurture_reason = tables.Column(verbose_name="Reason", default="—")
    stage_entered_at = tables.DateTimeColumn(verbose_name="In nurture since", format="Y-m-d")
    engagement_score = tables.Column(verbose_name="Engagement")

    class Meta:
        model = Lead
        fields = ()
        attrs = {"class": "leads"}
        empty_text = "No leads in nurture."
        template_name = TABLE_TEMPLATE
