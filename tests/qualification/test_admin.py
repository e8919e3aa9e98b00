import pytest

from qualification.models import CriteriaSet
from tests.factories import industrial_criteria

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client, marketing):
    client.force_login(marketing)
    return client


def test_marketing_ops_copy_a_version_to_a_draft_and_publish_it(ops_client):
    active = industrial_criteria()

    ops_client.post(
        "/admin/qualification/criteriaset/",
        {"action": "copy_to_draft", "_selected_action": [active.pk]},
    )
    draft = CriteriaSet.objects.get(status="draft")
    response = ops_client.post(
        "/admin/qualification/criteriaset/",
        {"action": "publish", "_selected_action": [draft.pk]},
        follow=True,
    )

    assert f"Published {CriteriaSet.objects.get(pk=draft.pk)}" in response.content.decode()
    assert CriteriaSet.objects.get(pk=active.pk).status == "retired"
    assert CriteriaSet.objects.get(pk=draft.pk).status == "active"


def test_an_active_version_is_shown_read_only(ops_client):
    active = industrial_criteria()

    page = ops_client.get(f"/admin/qualification/criteriaset/{active.pk}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="fit_threshold"' not in html
    assert "Target industry" in html  # rules are listed


def test_a_draft_shows_its_impact_preview(ops_client):
    active = industrial_criteria()
    ops_client.post(
        "/admin/qualification/criteriaset/",
        {"action": "copy_to_draft", "_selected_action": [active.pk]},
    )
    draft = CriteriaSet.objects.get(status="draft")

    html = ops_client.get(f"/admin/qualification/criteriaset/{draft.pk}/change/").content.decode()

    assert "Impact preview (last 90 days)" in html
    assert 'name="fit_threshold"' in html
    assert "leads of the last 90 days" in html


def test_publishing_an_incomplete_draft_shows_why(ops_client):
    active = industrial_criteria()
    ops_client.post(
        "/admin/qualification/criteriaset/",
        {"action": "copy_to_draft", "_selected_action": [active.pk]},
    )
    draft = CriteriaSet.objects.get(status="draft")
    draft.checklist_items.all().delete()

    response = ops_client.post(
        "/admin/qualification/criteriaset/",
        {"action": "publish", "_selected_action": [draft.pk]},
        follow=True,
    )

    assert "no checklist items" in response.content.decode()
    assert CriteriaSet.objects.get(pk=active.pk).status == "active"
