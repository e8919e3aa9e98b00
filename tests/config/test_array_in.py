"""`field__in=[...]` on PostgreSQL: one array parameter, the rows Django's IN list finds."""

import datetime as dt
from contextlib import contextmanager

import pytest
from django.db import connection
from django.db.models import F, ForeignObject
from django.db.models.fields import Field
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In
from django.test.utils import CaptureQueriesContext

from config.postgres import ArrayIn, RelatedArrayIn
from leads.models import EngagementEvent, Lead
from tests.factories import AccountFactory, EngagementEventFactory, LeadFactory

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@contextmanager
def djangos_in_list():
    """Django's own `in` lookups for a while, to compare with."""
    Field.register_lookup(In)
    ForeignObject.register_lookup(RelatedIn)
    try:
        yield
    finally:
        Field.register_lookup(ArrayIn)
        ForeignObject.register_lookup(RelatedArrayIn)


def both_ways(build):
    """The primary keys the queryset `build()` gives finds, and the SQL it ran, as set
    up and with Django's IN list (a filter takes its lookup when it is built)."""
    with CaptureQueriesContext(connection) as ours:
        mine = sorted(build().values_list("pk", flat=True))
    with djangos_in_list(), CaptureQueriesContext(connection) as theirs:
        django = sorted(build().values_list("pk", flat=True))
    return mine, django, [q["sql"] for q in ours], [q["sql"] for q in theirs]


@pytest.fixture
def leads():
    account, other = AccountFactory(), AccountFactory()
    return [
        LeadFactory(email="ada@acme.example", account=account, follow_up_on=dt.date(2026, 12, 1)),
        LeadFactory(email="bob@acme.example", account=account),
        LeadFactory(
            email="cy@other.example",
            account=other,
            follow_up_on=dt.date(2026, 12, 2),
            utm_source="s" * Lead._meta.get_field("utm_source").max_length,  # a full column
        ),
    ]


def test_a_list_of_ids_is_one_array_parameter_whatever_its_length(leads):
    ids = [lead.pk for lead in leads]
    short = Lead.objects.filter(pk__in=ids[:1]).query.sql_with_params()
    long = Lead.objects.filter(pk__in=[*ids, *range(10**6, 10**6 + 997)]).query.sql_with_params()
    assert short[0] == long[0]  # the same statement: psycopg splits it once, then it is cached
    assert '"leads_lead"."id" = ANY(%s::bigint[])' in long[0]
    assert len(long[1]) == 1 and len(long[1][0]) == 1000
    mine, django, sql, django_sql = both_ways(lambda: Lead.objects.filter(pk__in=ids[:2]))
    assert mine == django == sorted(ids[:2])
    assert "= ANY(" in sql[0] and " IN (" in django_sql[0]


@pytest.mark.parametrize(
    "lookup",
    [
        # repeats and None (never equal to anything) in the list
        lambda leads: {"pk__in": [leads[0].pk, leads[0].pk, None, leads[2].pk]},
        # a foreign key by objects and by ids
        lambda leads: {"account__in": [leads[0].account]},
        lambda leads: {"account_id__in": [leads[2].account_id, 10**9]},
        lambda leads: {"email__in": ["bob@acme.example", "nobody@acme.example"]},
        lambda leads: {"stage__in": ["new", "engaged"]},
        lambda leads: {"follow_up_on__in": [dt.date(2026, 12, 2), dt.date(2027, 1, 1)]},
        # integers beyond bigint, which an array of bigint cannot hold: Django's list
        lambda leads: {"pk__in": [10**30, leads[1].pk]},
        # an expression among the values: Django's list
        lambda leads: {"pk__in": [F("pk"), -1]},
        # a subquery: Django's IN (SELECT ...)
        lambda leads: {
            "account__in": type(leads[0].account).objects.filter(pk=leads[0].account_id)
        },
    ],
)
def test_every_lookup_finds_the_rows_djangos_in_list_finds(leads, lookup):
    mine, django, _, _ = both_ways(lambda: Lead.objects.filter(**lookup(leads)))
    assert mine == django
    assert mine, "each case finds something"


def test_text_longer_than_its_column_is_not_cut_to_match(leads):
    """One character more than a full utm_source: an array of varchar(120) would cut it
    to the stored value and find that lead."""
    longer = leads[2].utm_source + "s"
    mine, django, sql, _ = both_ways(lambda: Lead.objects.filter(utm_source__in=[longer]))
    assert mine == django == []
    assert "::text[])" in sql[0]


def test_times_compare_as_times(leads):
    kept = EngagementEventFactory(lead=leads[0], occurred_at=NOON)
    EngagementEventFactory(lead=leads[0], occurred_at=NOON + dt.timedelta(microseconds=1))
    elsewhere = NOON.astimezone(dt.timezone(dt.timedelta(hours=5)))  # the same instant
    mine, django, sql, _ = both_ways(
        lambda: EngagementEvent.objects.filter(occurred_at__in=[elsewhere])
    )
    assert mine == django == [kept.pk]
    assert "::timestamptz[])" in sql[0]


def test_an_empty_list_reads_nothing(leads):
    with CaptureQueriesContext(connection) as captured:
        assert list(Lead.objects.filter(pk__in=[])) == []
        assert list(Lead.objects.filter(pk__in=[None])) == []
    assert len(captured) == 0
