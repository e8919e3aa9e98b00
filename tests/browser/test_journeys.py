"""The three journeys of the pages, in real Chromium against a live server with the demo
users, criteria, teams and SLA policies. Screenshots land in tests/artifacts/."""

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from leads import demo, services
from leads.models import Lead
from leads.stages import Stage
from routing import services as routing_services

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # are still plain synchronous code (Django would otherwise refuse them).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package.")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()
        # While Playwright's event loop runs in this thread, Django keeps the test's
        # queries on a connection of their own, which nothing else closes: left open, it
        # kept the test database from being dropped at the end of the run.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def demo_setup():
    demo.create_users()
    demo.create_criteria()
    demo.create_routing()
    demo.set_demo_emails()
    return {u.username: u for u in get_user_model().objects.all()}


def mql_for(owner, manager, email, *, at=None, name=("Ada", "Becker")):
    """A hot MQL through the real intake (RFQ fast lane), then given to `owner`."""
    now = at or timezone.now()
    lead = services.ingest_lead(
        payload={
            "email": email,
            "first_name": name[0],
            "last_name": name[1],
            "company": "Hartmann Maschinenbau",
            "website": "hartmann-mb.example",
            "industry": "Machinery",
            "employee_count": 2400,
            "country": "DE",
            "role_category": "engineering",
            "source": "rfq",
            "product_line": "components",
        },
        at=now,
    ).lead
    lead = services.record_event(
        lead=lead, kind="rfq_submitted", occurred_at=now, now=now, external_id=email
    ).lead
    assert lead.stage == Stage.MQL
    if lead.owner_id != owner.pk:
        routing_services.reassign(lead=lead, to=owner, by=manager, at=now)
    return Lead.objects.get(pk=lead.pk)


def sign_in(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", demo.DEMO_PASSWORD)
    page.click("button[type=submit]")


def test_a_rep_accepts_rejects_and_qualifies_and_marketing_recycles(
    live_server, browser, demo_setup
):
    users = demo_setup
    rep, manager = users["rep"], users["manager"]
    # distinct companies: one rep per account, and the account's other leads stay apart
    first = mql_for(rep, manager, "ada@hartmann-mb.example", name=("Ada", "Accept"))
    second = mql_for(rep, manager, "bo@nordpack.example", name=("Bo", "Reject"))
    third = mql_for(rep, manager, "cy@alpen-auto.example", name=("Cy", "Qualify"))
    # a row as long as real ones get
    mql_for(
        rep,
        manager,
        "konstantin.oberhauser-schwarzenberg@hartmann-maschinenbau-services.example",
        name=("Konstantin", "Oberhauser-Schwarzenberg"),
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, live_server.url, "rep")

    # the queue, after login
    page.wait_for_selector("text=My queue")
    page.screenshot(path=ARTIFACTS / "queue.png", full_page=True)
    # a row's Accept and Reject are in view on a laptop and on a tablet, without
    # scrolling sideways
    tablet = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    sign_in(tablet, live_server.url, "rep")
    tablet.wait_for_selector("text=My queue")
    for screen, width in ((page, 1280), (tablet, 1024)):
        for label in (
            f"button[aria-label='Accept {first.name}']",
            f"a[aria-label='Reject {first.name} with a reason']",
        ):
            box = screen.locator(label).bounding_box()
            assert box is not None and box["x"] + box["width"] <= width, (width, label, box)

    # 1. accept straight from the row
    page.click(f"button[aria-label='Accept {first.name}']")
    page.wait_for_selector("text=Lead accepted")
    assert Lead.objects.get(pk=first.pk).stage == Stage.ACCEPTED

    # 2. reject another with a reason
    page.click(f"a[aria-label='Reject {second.name} with a reason']")
    page.select_option("#id_reject-reason", label="Misrouted (wrong territory or product line)")
    page.fill("#id_reject-note", "Belongs to the packaging division")
    page.click("#action-reject button[type=submit]")
    page.wait_for_selector("text=Rejected: Misrouted")
    assert Lead.objects.get(pk=second.pk).stage == Stage.REJECTED

    # 3. accept a third, fill its checklist and qualify it to SQL
    page.goto(f"{live_server.url}/leads/{third.pk}/")
    page.click("#action-accept button")
    page.wait_for_selector("text=Lead accepted")
    for radio in page.locator("input[type=radio][value=confirmed]").all():
        radio.check()
    page.click("text=Save checklist")
    page.wait_for_selector("text=Checklist saved")
    page.click("#action-qualify_sql summary")
    page.fill("#id_qualify_sql-next_step", "Technical workshop with their plant engineer")
    page.click("#action-qualify_sql button[type=submit]")
    page.wait_for_selector("text=Qualified to SQL")
    page.screenshot(path=ARTIFACTS / "lead.png", full_page=True)
    third.refresh_from_db()
    assert third.stage == Stage.SQL
    assert third.next_step == "Technical workshop with their plant engineer"

    # on a phone
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    sign_in(phone, live_server.url, "rep")
    phone.wait_for_selector("text=My queue")
    phone.screenshot(path=ARTIFACTS / "queue-phone.png", full_page=True)

    # marketing recycles the rejected lead
    ops = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(ops, live_server.url, "marketing")
    ops.goto(f"{live_server.url}/marketing/rejected/")
    ops.wait_for_selector("text=Belongs to the packaging division")
    ops.check(f"input[aria-label='Select {second.name}']")
    ops.select_option("#bulk-action", "recycle")
    ops.click("text=Apply to selected leads")
    ops.wait_for_selector("text=Recycled to nurture: 1 lead")
    assert Lead.objects.get(pk=second.pk).stage == Stage.NURTURE


def test_a_manager_reassigns_an_overdue_lead(live_server, browser, demo_setup):
    users = demo_setup
    manager, omar, lena = users["manager"], users["omar"], users["lena"]
    # an RFQ from three days ago that Omar never decided on: far past its 1-hour target
    overdue = mql_for(
        omar, manager, "late@hartmann-mb.example", at=timezone.now() - dt.timedelta(days=3)
    )
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(page, live_server.url, "manager")

    page.wait_for_selector("text=Team leads")
    first_row = page.locator("table.leads tbody tr").first
    assert "overdue by" in first_row.inner_text()
    page.screenshot(path=ARTIFACTS / "team.png", full_page=True)
    page.check(f"input[aria-label='Select {overdue.name}']")
    page.select_option("#reassign-to", label=lena.get_full_name())
    page.fill("#reassign-note", "Omar is at the trade fair")
    page.click("text=Reassign selected leads")
    page.wait_for_selector(f"text=Reassigned 1 lead to {lena.get_full_name()}")
    assert Lead.objects.get(pk=overdue.pk).owner == lena
