"""The checklist report counts every verdict once, whatever its snapshot holds (one pass
over the verdicts counts them and their checklist entries together)."""

import pytest
from django.test import RequestFactory

from reporting import selectors
from reporting.filters import report_filter, scope_of
from tests.factories import ChecklistItemFactory, CriteriaSetFactory

from .conftest import ACCEPTED, MARCH, MQL, NOW, NURTURE, REJECTED, SQL, journey

pytestmark = pytest.mark.django_db


def scope_for(user):
    request = RequestFactory().get("/reports/", MARCH)
    request.user = user
    return scope_of(report_filter(request, now=NOW), now=NOW)


def test_a_verdict_counts_once_with_many_entries_none_or_an_entry_without_item(rep, marketing):
    criteria = CriteriaSetFactory(status="draft")
    budget = ChecklistItemFactory(criteria_set=criteria, question="Budget owner")
    supplier = ChecklistItemFactory(criteria_set=criteria, question="Supplier")
    both = [
        {"item": budget.pk, "answer": "unknown", "must_have": True},
        {"item": supplier.pk, "answer": "not_met", "must_have": False},
    ]
    common = {"owner": rep, "criteria_set": criteria}
    # two entries: one verdict
    journey([(MQL, 1), (REJECTED, 2)], snapshots={REJECTED: both}, **common)
    # an empty checklist, and a snapshot that is not a list: verdicts all the same
    journey([(MQL, 1), (REJECTED, 2)], **common)
    journey([(MQL, 1), (REJECTED, 2)], snapshots={REJECTED: {"item": budget.pk}}, **common)
    # an entry without an item counts the verdict, not an item
    journey(
        [(MQL, 1), (ACCEPTED, 2), (SQL, 3)],
        snapshots={SQL: [{"answer": "unknown"}, {"item": budget.pk, "answer": "confirmed"}]},
        **common,
    )
    journey([(MQL, 1), (ACCEPTED, 2), (NURTURE, 3)], snapshots={NURTURE: []}, **common)

    report = selectors.checklist(scope_for(marketing))

    assert report.verdicts == {"rejected": 3, "sql": 1, "not_now": 1}
    counts = {
        i.question: {k: (c.verdicts, c.unknown, c.not_met) for k, c in i.by_verdict.items()}
        for i in report.items
    }
    assert counts == {
        "Budget owner": {"rejected": (1, 1, 0), "not_now": (0, 0, 0), "sql": (1, 0, 0)},
        "Supplier": {"rejected": (1, 0, 1), "not_now": (0, 0, 0), "sql": (0, 0, 0)},
    }
