"""Lead lists write their rows in Python (leads.tables.LabelledTable.rows_html): the rows
must be the ones django-tables2's own template writes, and their links the ones Django's
reverse() gives."""

import re

import pytest
from django.template.loader import get_template
from django.test import RequestFactory
from django.urls import NoReverseMatch, path, register_converter, reverse, set_script_prefix
from django.utils import timezone
from django.utils.html import escape

from leads.links import url_with_ids
from leads.models import Lead
from leads.selectors import with_list_relations
from leads.stages import Stage
from leads.tables import MarketingLeadTable, QueueTable
from routing import sla
from routing.tables import TeamLeadTable
from tests.factories import AccountFactory, LeadFactory, SlaPolicyFactory

pytestmark = pytest.mark.django_db


def _tbody(html: str) -> str:
    body = re.search(r"<tbody[^>]*>(.*)</tbody>", html, re.S).group(1)
    # each CSRF token is masked anew
    body = re.sub(r'(name="csrfmiddlewaretoken" value=)"[^"]+"', r"\1(token)", body)
    return re.sub(r">\s+<", "><", body).strip()


def _with_tables2s_template(table, request) -> str:
    """The table rendered by django-tables2's own template (a cell at a time)."""
    return get_template("django_tables2/table.html").render({"table": table}, request)


@pytest.mark.parametrize("table_class", [QueueTable, TeamLeadTable, MarketingLeadTable])
def test_rows_are_written_as_django_tables2_writes_them(table_class, rep):
    policy = SlaPolicyFactory(active=False)
    leads = [
        # odd and even rows, text to escape, a lead without account or product line,
        # one with a running clock and one without
        LeadFactory(stage=Stage.MQL, owner=rep, last_name='O\'Brien & <"Sons">'),
        LeadFactory(stage=Stage.ACCEPTED, owner=rep, account=None, product_line=None),
        LeadFactory(stage=Stage.MQL, owner=rep, account=AccountFactory(name="Tübingen AG")),
    ]
    sla.start_clocks(starts=[sla.ClockStart(leads[0], "decision", rep, policy)], at=timezone.now())
    request = RequestFactory().get("/queue/?page=1")
    request.user = rep

    def table():
        rows = with_list_relations(Lead.objects.filter(pk__in=[lead.pk for lead in leads]))
        made = table_class(list(rows.order_by("pk")), request=request)
        made.paginate(per_page=50)
        return made

    ours = _tbody(table().as_html(request))
    theirs = _tbody(_with_tables2s_template(table(), request))

    assert ours.count("<tr ") == 3
    assert 'class="even"' in ours and 'class="odd"' in ours
    assert escape('O\'Brien & <"Sons">') in ours
    assert ours == theirs


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("lead-detail", [7]),
        ("lead-detail", [1234567890123]),
        ("lead-transition", [42, "accept"]),
        ("lead-transition", [42, "qualify_sql"]),
    ],
)
def test_url_with_ids_is_the_url_reverse_gives(name, args):
    assert url_with_ids(name, *args) == reverse(name, args=args)


def test_url_with_ids_follows_the_script_prefix():
    try:
        set_script_prefix("/handoff/")
        assert (
            url_with_ids("lead-detail", 5)
            == "/handoff/leads/5/"
            == reverse("lead-detail", args=[5])
        )
    finally:
        set_script_prefix("/")
    assert url_with_ids("lead-detail", 5) == "/leads/5/"


class _Padded:
    regex = "[0-9]{6}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return f"{value:06d}"


class _Hex:
    regex = "[0-9a-f]+"

    def to_python(self, value):
        return int(value, 16)

    def to_url(self, value):
        return f"{value:x}"


register_converter(_Padded, "padded6")
register_converter(_Hex, "hexid")
urlpatterns = [
    path("padded/<padded6:n>/", lambda request, n: None, name="padded"),
    path("hex/<hexid:n>/", lambda request, n: None, name="hex"),
]


@pytest.mark.urls(__name__)
def test_a_url_that_writes_its_ids_otherwise_is_still_the_url_reverse_gives():
    assert url_with_ids("padded", 5) == "/padded/000005/" == reverse("padded", args=[5])
    assert url_with_ids("hex", 255) == "/hex/ff/" == reverse("hex", args=[255])
    with pytest.raises(NoReverseMatch):
        url_with_ids("no-such-page", 5)
