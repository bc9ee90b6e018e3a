"""Tell a Friend from a real browser (Debian chromium) against a running service (``serve``)
whose mail server is a real SMTP server (aiosmtpd on 127.0.0.1): the demo host goes from /me
to "Invite a friend", fills the form (their own words, the over-18 box), sees "Sent"; the
email arrives through the sender task ``serve`` runs, naming the host, with the one-click
headers; the friend opens the link (a GET: a page with a button, nothing unsubscribed yet)
and presses "Unsubscribe"; the host's second try is refused with the neutral answer. Each
page passes axe-core, fits a 390 px phone, targets of 24 px or more."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.browser.test_accessibility import check, shots_folder
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
FRIEND = "ines.okafor@example.org"
HOST_NAME = "Harriet Host"  # the demo host (accounts/demo.py)


@pytest.fixture
def service(tmp_path: Path, mail_server: MailServerProcess) -> Iterator[RunningService]:
    mail = mail_server.service_settings("hello@callroster.test")
    with running_service(tmp_path / "data", settings=mail) as running:
        store = open_store(load_settings(data=running.data))
        try:
            [host] = store.accounts.find_user_ids_by_email(demo_seed.DEMO_HOST_EMAIL)
            store.users.set_password(OPERATOR, host, PASSWORD)
        finally:
            store.close()
        yield running


def _suppressed(service: RunningService) -> bool:
    store = open_store(load_settings(data=service.data))
    try:
        return store.privacy_requests.suppressed(FRIEND)
    finally:
        store.close()


def _invite(page: Page, words: str) -> None:
    page.get_by_label("Your friend's email address").fill(FRIEND)
    page.get_by_label("My own words").check()
    page.get_by_label("Your own message").fill(words)
    page.get_by_label("My friend is 18 or over").check()
    page.get_by_role("button", name="Send the invitation").click()


def test_a_host_invites_a_friend_who_unsubscribes(
    service: RunningService, mail_server: MailServerProcess, tmp_path: Path
) -> None:
    shots = shots_folder(tmp_path)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.goto(f"{service.base_url}/login?next=/me")
        page.get_by_label("Email").fill(demo_seed.DEMO_HOST_EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{service.base_url}/me")
        page.get_by_role("link", name="Invite a friend").click()
        page.wait_for_url(f"{service.base_url}/invite-a-friend")
        check(page, "invite-a-friend", shots)
        _invite(page, "Hi Inès,\nthis is what we use for the Friday call.\n\nAda")
        page.wait_for_url(f"{service.base_url}/invite-a-friend?done=sent")
        expect(page.locator("#notice")).to_contain_text("Sent.")

        wait_until_sync(lambda: mail_server.mailbox.received, 20, "the friend's email")
        [(recipients, raw)] = mail_server.mailbox.received
        assert recipients == [FRIEND]
        message = email.message_from_bytes(raw, policy=default)
        assert isinstance(message, EmailMessage)
        assert message["Subject"] == f"{HOST_NAME} invites you to try Callroster"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = re.fullmatch(r"<(.+/unsubscribe/crun_[\w-]{43})>", message["List-Unsubscribe"])
        assert link, message["List-Unsubscribe"]
        assert "this is what we use for the Friday call." in message.get_content()

        friend = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        friend.goto(link.group(1))
        expect(friend.get_by_role("button", name="Unsubscribe")).to_be_visible()
        check(friend, "unsubscribe", shots)
        friend.reload()  # a scanner's second look: still nothing done
        assert not _suppressed(service)
        friend.get_by_role("button", name="Unsubscribe").click()
        expect(friend.locator("#unsubscribed")).to_contain_text("You are unsubscribed.")
        assert _suppressed(service)

        page.goto(f"{service.base_url}/invite-a-friend")
        _invite(page, "Did you see my email?")
        expect(page.locator("#message")).to_have_text(
            "We can't send an invitation to this address."
        )
        expect(page.get_by_label("Your friend's email address")).to_have_value(FRIEND)
