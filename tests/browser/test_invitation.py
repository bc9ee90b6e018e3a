"""A host invites people from a real browser (Debian chromium) against a running service
(`serve`) whose mail server is a real SMTP server (aiosmtpd on 127.0.0.1): from /me to the
conference's invitation page, the text copied to the clipboard, the calendar file
downloaded, a list with a bad address refused whole at the field with what was typed kept,
then sent: each guest's email arrives through the sender task `serve` runs, and the page
shows each as sent. At phone width."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import icalendar
import pytest
from playwright.sync_api import Page, expect
from tests.support.browser import chromium
from tests.support.service import RunningService, running_service
from tests.support.smtp import MailServerProcess
from tests.support.waiting import wait_until_sync

from callroster.accounts import demo as demo_seed
from callroster.accounts.actor import operator_cli
from callroster.config import load_settings
from callroster.store.store import open_store

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
PASSWORD = "Harbour-Violet-Anchor-58"
GUESTS = ["marguerite.oyelaran@example.org", "tobias.vandermeer@example.net"]


@pytest.fixture
def service(tmp_path: Path, mail_server: MailServerProcess) -> Iterator[RunningService]:
    mail = mail_server.service_settings("invitations@callroster.test")
    with running_service(tmp_path / "data", settings=mail) as running:
        store = open_store(load_settings(data=running.data))
        try:
            [host] = store.accounts.find_user_ids_by_email(demo_seed.DEMO_HOST_EMAIL)
            store.users.set_password(OPERATOR, host, PASSWORD)
        finally:
            store.close()
        yield running


def _signed_in_host(page: Page, service: RunningService) -> None:
    page.goto(f"{service.base_url}/login?next=/me")
    page.get_by_label("Email").fill(demo_seed.DEMO_HOST_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{service.base_url}/me")


def test_a_host_copies_downloads_and_emails_the_invitation(
    service: RunningService, mail_server: MailServerProcess
) -> None:
    demo = service.demo()
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            permissions=["clipboard-read", "clipboard-write"],
            accept_downloads=True,
        )
        page = context.new_page()
        _signed_in_host(page, service)
        page.get_by_role("link", name="Invite people: text, calendar file, email").click()
        page.wait_for_url(f"**/me/conferences/{demo['conference_id']}/invitation")

        text = page.get_by_label("Invitation text")
        expect(text).to_contain_text(f"PIN {demo['pin']} #")
        expect(text).to_contain_text(demo["web_url"])
        assert demo["host_pin"] not in page.content()
        page.get_by_role("button", name="Copy the invitation").click()
        expect(page.locator("#copy-status")).to_have_text("Copied.")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == text.input_value() and demo["web_url"] in copied

        with page.expect_download() as download:
            page.get_by_role("button", name="Download the calendar file (.ics)").click()
        assert download.value.suggested_filename == "invitation.ics"
        ics = Path(download.value.path()).read_bytes()
        (event,) = icalendar.Calendar.from_ical(ics).walk("VEVENT")
        assert str(event["SUMMARY"]) == demo["conference_title"]

        addresses = page.get_by_label("Email addresses")
        addresses.fill(f"{GUESTS[0]}\nnot-an-address")
        page.get_by_role("button", name="Send the invitation").click()
        expect(page.locator("#addresses-error")).to_have_text(
            "Not an email address: entry 2 (not-an-address). Nothing was sent."
        )
        expect(addresses).to_have_value(f"{GUESTS[0]}\nnot-an-address")
        expect(addresses).to_have_attribute("aria-invalid", "true")

        addresses.fill(", ".join(GUESTS))
        page.get_by_role("button", name="Send the invitation").click()
        expect(page.locator("#notice")).to_contain_text("The invitation is on its way")
        wait_until_sync(lambda: len(mail_server.mailbox.received) == 2, 20, "both guests' emails")
        page.reload()
        expect(page.locator("#outbox tbody tr")).to_have_count(2)
        for guest in GUESTS:
            row = page.locator("#outbox tbody tr").filter(has_text=guest)
            expect(row.locator("td").nth(1)).to_contain_text("Sent at")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"

    received = {to[0]: raw for to, raw in mail_server.mailbox.received}
    assert sorted(received) == sorted(GUESTS)
    message = email.message_from_bytes(received[GUESTS[0]], policy=default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None and f"PIN {demo['pin']} #" in body.get_content()
    assert [a.get_filename() for a in message.iter_attachments()] == ["invitation.ics"]
