"""The administrator's portal in a real browser (Debian chromium through Playwright), served
by the service's own app on a loopback port: an administrator signs in with their second
factor, adds a host (whose password is never shown again), edits them, suspends them (the
host can no longer sign in), resumes them, reads their conference history, removes them,
changes the account's settings and reads the audit log. A host is turned away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from tests.browser.test_signin import serving
from tests.support.browser import chromium

from callroster.accounts.actor import Role, operator_cli
from callroster.config import load_settings
from callroster.store.store import open_store

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
ADMIN_EMAIL = "ada.admin@portal.example"
HOST_EMAIL = "hugo.host@portal.example"
NEW_EMAIL = "priya.partner@portal.example"
PASSWORD = "Lantern-Meridian-Oboe-48"
NEW_PASSWORD = "Harbour-Quince-Trellis-77"
WIDE = {"width": 1100, "height": 900}


@dataclass
class Portal:
    base_url: str
    secret: str  # the administrator's TOTP secret, as their phone holds it
    account_id: str
    store_path: Path


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    settings = load_settings(data=tmp_path / "data")
    setup = open_store(settings)
    try:
        account = setup.accounts.create_account(OPERATOR, "Portal LLP", "london")
        admin = setup.accounts.create_user(
            OPERATOR, account, Role.ADMINISTRATOR, "Ada Admin", email=ADMIN_EMAIL, password=PASSWORD
        )
        setup.accounts.create_user(
            OPERATOR, account, Role.HOST, "Hugo Host", email=HOST_EMAIL, password=PASSWORD
        )
        enrolment = setup.second_factor.begin_enrolment(OPERATOR, admin)
        codes = setup.second_factor.confirm_enrolment(
            OPERATOR, admin, pyotp.TOTP(enrolment.secret).now()
        )
        assert codes is not None
    finally:
        setup.close()
    with serving(settings) as base_url:
        yield Portal(base_url, enrolment.secret, account, tmp_path / "data")


def _sign_in(page: Page, base_url: str, email: str, password: str, next_path: str) -> None:
    page.goto(f"{base_url}/login?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _admin_page(browser: Browser, portal: Portal) -> Page:
    page = browser.new_context(viewport=WIDE).new_page()
    _sign_in(page, portal.base_url, ADMIN_EMAIL, PASSWORD, "/admin")
    page.wait_for_url(f"{portal.base_url}/login/second-factor?next=/admin")
    # The enrolment used this step's code, which is never accepted twice: the phone's next.
    page.get_by_label("The 6-digit code from your authenticator app").fill(
        pyotp.TOTP(portal.secret).at(time.time() + 30)
    )
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{portal.base_url}/admin")
    return page


def test_an_administrator_looks_after_a_host_from_the_portal(
    portal: Portal, tmp_path: Path
) -> None:
    with chromium() as browser:
        page = _admin_page(browser, portal)
        users = page.locator("#users")
        expect(users).to_contain_text("Ada Admin")
        expect(users).to_contain_text("Hugo Host")

        # Add a host with a first password: it is never on a page again.
        add = page.locator("form[action='/admin/users']")
        add.get_by_label("Role").select_option("host")
        add.get_by_label("Name").fill("Priya Partner")
        add.get_by_label("Email (they sign in with it)").fill(NEW_EMAIL)
        add.get_by_label("Phone").fill("07700 900612")
        add.get_by_label("First password").fill(NEW_PASSWORD)
        add.get_by_role("button", name="Add").click()
        expect(page.locator("#notice")).to_have_text("Priya Partner was added.")
        assert "/admin/users/" in page.url
        person_url = page.url.split("?")[0]
        expect(page.locator("#person-phone")).to_have_text("+447700900612")
        assert NEW_PASSWORD not in page.content()

        # Edit: a new phone, shown in E.164; a bad one gets a clear message and changes nothing.
        page.get_by_label("Phone").fill("+44 20 7946 0612")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator("#notice")).to_have_text("Changes saved.")
        expect(page.locator("#person-phone")).to_have_text("+442079460612")
        page.get_by_label("Phone").fill("nonsense")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator("#message")).to_contain_text("not a phone number")
        expect(page.locator("#person-phone")).to_have_text("+442079460612")

        # Her conference shows in her history.
        store = open_store(load_settings(data=portal.store_path))
        try:
            [priya] = store.accounts.find_user_ids_by_email(NEW_EMAIL)
            weekly = store.conferences.create_conference(OPERATOR, priya, "Partners' weekly")
            store.conferences.add_leg(
                OPERATOR,
                weekly,
                joined_via="dial_in",
                name="Gwen Guest",
                name_source="contact",
                number="+447700900701",
                withheld=False,
            )
        finally:
            store.close()
        page.reload()
        row = page.locator("#conferences tbody tr", has_text="Partners' weekly")
        expect(row.locator("td").nth(3)).to_have_text("1")
        row.get_by_role("button", name="Delete its call history").click()
        expect(page.locator("#notice")).to_have_text("The conference's call history was deleted.")
        expect(row.locator("td").nth(3)).to_have_text("0")

        # Suspended, she cannot sign in; resumed, she can.
        page.get_by_role("button", name="Suspend Priya Partner").click()
        expect(page.locator("#person-status")).to_have_text("Suspended")
        priya_page = browser.new_context().new_page()
        _sign_in(priya_page, portal.base_url, NEW_EMAIL, NEW_PASSWORD, "/me")
        expect(priya_page.get_by_role("alert")).to_have_text(
            "This account is suspended. Ask your administrator."
        )
        page.get_by_role("button", name="Resume Priya Partner").click()
        expect(page.locator("#person-status")).to_have_text("Active")
        _sign_in(priya_page, portal.base_url, NEW_EMAIL, NEW_PASSWORD, "/me")
        priya_page.wait_for_url(f"{portal.base_url}/me")
        expect(priya_page.locator("#name")).to_have_text("Priya Partner")

        # A host is turned away from the portal.
        priya_page.goto(f"{portal.base_url}/admin")
        expect(priya_page.get_by_role("alert")).to_contain_text("for the account's administrators")

        # Removing needs the box ticked; then her details are erased and she is signed out.
        page.screenshot(path=str(tmp_path / "person.png"), full_page=True)
        page.get_by_label("Yes, remove Priya Partner and erase their details").check()
        page.get_by_role("button", name="Remove").click()
        expect(page.locator("#notice")).to_have_text("Removed: their details are erased.")
        expect(page.locator("#person-status")).to_have_text("Removed")
        expect(page.locator("#person-email")).to_have_text("none")
        priya_page.reload()
        priya_page.wait_for_url(f"{portal.base_url}/login?next=/admin")

        page.goto(f"{portal.base_url}/admin")
        expect(users).to_contain_text("Removed user")
        expect(users).not_to_contain_text("Priya Partner")
        assert person_url.startswith(portal.base_url)

        # Settings: hide numbers from guests.
        page.get_by_label("Show callers' numbers to guests in Live Call Status").uncheck()
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator("#notice")).to_have_text("Settings saved.")
        expect(
            page.get_by_label("Show callers' numbers to guests in Live Call Status")
        ).not_to_be_checked()

        # A contact list from a file: all or nothing, through the API with the CSRF token.
        good = tmp_path / "contacts.csv"
        good.write_text("name,phone\nConnie Contact,+447700900888\nCarl Contact,07700 900889\n")
        bad = tmp_path / "bad.csv"
        bad.write_text("name,phone\nNed Number,not a number\n")
        contacts = page.locator("#contacts-form")
        contacts.get_by_label("Import a contact list").set_input_files(str(bad))
        contacts.get_by_role("button", name="Import", exact=True).click()
        expect(page.locator("#contacts-status")).to_contain_text("Nothing was imported: line 2")
        contacts.get_by_label("Import a contact list").set_input_files(str(good))
        contacts.get_by_role("button", name="Import", exact=True).click()
        expect(page.locator("#contacts-status")).to_have_text("2 contacts imported.")
        store = open_store(load_settings(data=portal.store_path))
        try:
            named = store.contacts.name_for_number(OPERATOR, portal.account_id, "+447700900889")
            assert named == "Carl Contact"
            assert (
                store.contacts.name_for_number(OPERATOR, portal.account_id, "+447700900990") is None
            )
        finally:
            store.close()

        # The audit log has all of it, with who, what and why.
        page.get_by_role("link", name="Audit log").click()
        audit = page.locator("#audit")
        for action in ("user.create", "user.update", "user.suspend", "user.resume", "user.remove"):
            expect(audit).to_contain_text(action)
        expect(audit).to_contain_text("account.settings")
        expect(audit).to_contain_text("POST /admin/users")
        page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
        for secret in (NEW_PASSWORD, PASSWORD):
            assert secret not in page.content()


def test_a_form_from_elsewhere_is_refused(portal: Portal) -> None:
    """A POST without this session's CSRF token (as another site would send) changes nothing."""
    with chromium() as browser:
        page = _admin_page(browser, portal)
        status = page.evaluate(
            """() => fetch('/admin/settings', {method: 'POST',
                headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                body: 'csrf_token=forged&show_numbers_to_guests=on'}).then(r => r.status)"""
        )
        assert status == 403
        page.reload()
        expect(
            page.get_by_label("Show callers' numbers to guests in Live Call Status")
        ).not_to_be_checked()
