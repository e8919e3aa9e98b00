import pytest

from leads import services
from leads.stages import Stage
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-12345")
    client.force_login(user)
    return client


def test_the_lead_page_shows_its_full_history_read_only(admin_client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep, first_name="Ada")
    services.accept(lead=lead, by=rep)
    lead.refresh_from_db()
    services.nurture(
        lead=lead,
        by=rep,
        reason="no-budget-yet",
        follow_up_on=lead.created_at.date().replace(year=lead.created_at.year + 1),
    )

    response = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "History (stage changes, oldest first)" in page
    assert page.index("accept") < page.index("nurture")
    assert "No budget yet" in page
    # the stage is shown, never offered as an input
    assert 'name="stage"' not in page
    assert 'name="owner"' not in page


def test_the_admin_cannot_change_the_stage_by_posting_it(admin_client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep, first_name="Ada", last_name="Byron")

    admin_client.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        {
            "email": lead.email,
            "first_name": "Ada",
            "last_name": "Byron",
            "source": lead.source,
            "stage": Stage.OPPORTUNITY,
            "stagechange_set-TOTAL_FORMS": "0",
            "stagechange_set-INITIAL_FORMS": "0",
            "stage_changes-TOTAL_FORMS": "0",
            "stage_changes-INITIAL_FORMS": "0",
        },
    )

    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_a_lead_with_history_has_no_delete_button_and_no_bulk_delete(admin_client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    services.accept(lead=lead, by=rep)

    assert admin_client.get(f"/admin/leads/lead/{lead.pk}/delete/").status_code == 403
    changelist = admin_client.get("/admin/leads/lead/").content.decode()
    assert "delete_selected" not in changelist
    assert "archive_leads" in changelist


def test_stage_changes_cannot_be_edited_in_the_admin(admin_client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    change = services.accept(lead=lead, by=rep)

    page = admin_client.get(f"/admin/leads/stagechange/{change.pk}/change/").content.decode()

    assert 'name="note"' not in page
    assert admin_client.get(f"/admin/leads/stagechange/{change.pk}/delete/").status_code == 403


def test_a_used_reason_code_is_read_only(admin_client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    change = services.reject(lead=lead, by=rep, reason="duplicate")

    page = admin_client.get(
        f"/admin/qualification/reason/{change.reason.pk}/change/"
    ).content.decode()

    assert 'name="code"' not in page
    assert 'name="label"' in page
