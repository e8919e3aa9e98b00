"""Whether a lead could be handed over (its handoff fields, its must-have fit rules) is
kept on it by each scoring, so that the account-MQL search reads only contacts that may
pass; an edit of a lead's or an account's facts rescores at once."""

import pytest
from django.contrib import admin as django_admin
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.utils import timezone

from leads import services
from leads.models import Account, Lead, StageChange
from leads.stages import Stage
from tests.factories import GOOD_FIT, industrial_criteria

pytestmark = pytest.mark.django_db

# the edits rescore at the time they are made: the events are of today, not to decay
NOW = timezone.now()


def ingest(email, **changes):
    return services.ingest_lead(payload={**GOOD_FIT, "email": email, **changes}, at=NOW).lead


def event(lead, kind):
    return services.record_event(lead=lead, kind=kind, occurred_at=NOW, now=NOW)


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-12345")


def admin_save(client, user, obj, **changes):
    """POST the object's admin change form as the admin shows it, with `changes`."""
    model_admin = django_admin.site._registry[type(obj)]
    request = RequestFactory().get("/")
    request.user = user
    form = model_admin.get_form(request, obj)
    data = {
        name: "" if value is None else value
        for name, value in model_to_dict(obj, fields=list(form.base_fields)).items()
    }
    data.update(changes)
    data.update({"stage_changes-TOTAL_FORMS": "0", "stage_changes-INITIAL_FORMS": "0"})
    client.force_login(user)
    meta = obj._meta
    response = client.post(f"/admin/{meta.app_label}/{meta.model_name}/{obj.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]


def test_each_scoring_keeps_whether_the_lead_could_be_handed_over():
    industrial_criteria()
    served = ingest("ada@plant-works.example")
    outside = ingest("bob@plant-works.example", country="US")
    assert not served.handoff_blocked
    assert outside.handoff_blocked

    again = ingest("bob@plant-works.example", country="AT")

    assert (again.pk, again.country) == (outside.pk, "AT")
    assert not Lead.objects.get(pk=outside.pk).handoff_blocked


def test_an_account_mql_is_found_among_contacts_an_admin_edit_unblocked(
    client, admin_user, django_capture_on_commit_callbacks
):
    industrial_criteria(account_engagement_threshold=40, engagement_threshold=100)
    engineer = ingest("eng@plant-works.example", country="US")
    buyer = ingest("buy@plant-works.example", country="US", role_category="other")
    event(buyer, "pricing_page_view")  # 15
    event(buyer, "webinar_attended")  # 30
    event(engineer, "content_download")  # the account's 40: no contact may be its MQL

    assert not StageChange.objects.filter(to_stage=Stage.MQL).exists()
    engineer.refresh_from_db()
    assert engineer.handoff_blocked

    with django_capture_on_commit_callbacks(execute=True):
        admin_save(client, admin_user, engineer, country="DE")
    engineer.refresh_from_db()
    assert not engineer.handoff_blocked
    assert engineer.fit_score == 50  # the served region's 10 points too

    event(buyer, "page_view")  # the account's 42, and now a contact that may be its MQL

    engineer.refresh_from_db()
    assert engineer.stage == Stage.MQL
    assert "Account engagement 42 reached the account threshold of 40" in (
        engineer.account_mql_reason
    )


def test_a_contact_scored_before_its_facts_changed_is_checked_on_its_facts():
    industrial_criteria(account_engagement_threshold=40, engagement_threshold=100)
    engineer = ingest("eng@plant-works.example")
    buyer = ingest("buy@plant-works.example", role_category="other", country="US")
    # changed outside the services: its flag still says it may be handed over
    Lead.objects.filter(pk=engineer.pk).update(country="US")
    event(buyer, "pricing_page_view")
    event(buyer, "webinar_attended")
    event(buyer, "content_download")  # the account's 40

    assert not StageChange.objects.filter(to_stage=Stage.MQL).exists()
    assert Lead.objects.get(pk=engineer.pk).stage == Stage.NEW


def test_editing_an_account_rescores_its_open_leads(
    client, admin_user, django_capture_on_commit_callbacks
):
    industrial_criteria()
    # no country on the form: neither the lead nor its new account has one
    lead = ingest("ada@plant-works.example", country="")
    assert lead.handoff_blocked
    assert lead.fit_score == 40  # no served region

    with django_capture_on_commit_callbacks(execute=True):
        admin_save(client, admin_user, lead.account, country="CH", industry="Retail")

    lead.refresh_from_db()
    assert not lead.handoff_blocked
    assert lead.fit_score == 30  # region +10, no target industry -20
    assert lead.fit_score == services.compute_score(lead, timezone.now()).fit


def test_a_form_that_fills_an_accounts_blank_rescores_its_other_contacts(
    django_capture_on_commit_callbacks,
):
    industrial_criteria()
    first = ingest("ada@plant-works.example", country="")
    assert first.handoff_blocked

    with django_capture_on_commit_callbacks(execute=True):
        ingest("bob@plant-works.example", country="AT")

    assert Account.objects.get(domain="plant-works.example").country == "AT"
    first.refresh_from_db()
    assert first.country == ""  # its own record is as it was ...
    assert not first.handoff_blocked  # ... and its account's country now serves it
    assert first.fit_score == 50


def test_the_nightly_refresh_sets_the_flag_again():
    industrial_criteria()
    served = ingest("ada@plant-works.example")
    outside = ingest("bob@plant-works.example", country="US")
    Lead.objects.filter(pk=served.pk).update(handoff_blocked=True)
    Lead.objects.filter(pk=outside.pk).update(handoff_blocked=False)

    assert services.rescore(Lead.objects.all(), now=NOW) == 2

    assert not Lead.objects.get(pk=served.pk).handoff_blocked
    assert Lead.objects.get(pk=outside.pk).handoff_blocked
