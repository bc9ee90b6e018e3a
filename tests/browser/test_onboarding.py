"""Operator onboarding in a real browser (Debian chromium through Playwright) against the
service's own app served by uvicorn on a loopback port: the operator signs in at /operator
by pasting an operator token, creates a customer account and is shown its set-up link once;
the account's first administrator, in a browser of their own on a phone-sized screen, opens
that link as given, chooses a password, lands on the second-factor enrolment, enrols with a
code computed as a phone would, and is signed in. The operator then terminates the account
(after a confirmation) and the administrator's next page load sends them to sign in, where
they are refused.

The link the page shows is followed exactly as printed: the settings name the port the
server really listens on.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import uvicorn
from playwright.sync_api import BrowserContext, expect
from tests.support.browser import chromium
from tests.support.waiting import wait_until_sync

from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.config import load_settings
from callroster.store.store import open_store

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
ADMIN_EMAIL = "lise.admin@meitner.example"
PASSWORD = "Isotope-Harbour-Velvet-62"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@dataclass
class Service:
    base_url: str
    operator_token: str


@contextmanager
def serving(data: Path) -> Iterator[Service]:
    """The service's app on a free loopback port, its settings naming that port (so the
    set-up links it prints are the ones a person would follow)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    settings = load_settings(data=data, http_port=port)
    store = open_store(settings)
    _, token = store.operator_tokens.issue(OPERATOR, "browser test")
    config = uvicorn.Config(
        create_app(store, settings), log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until_sync(
            lambda: server.started or not thread.is_alive(), 10, "the server to start", 0.01
        )
        assert server.started, "the server did not start"
        yield Service(f"http://127.0.0.1:{port}", token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()


def _cookie(context: BrowserContext, name: str) -> dict[str, object]:
    cookies = [c for c in context.cookies() if c["name"] == name]
    assert len(cookies) == 1, context.cookies()
    return dict(cookies[0])


def test_operator_creates_an_account_and_its_administrator_sets_up(tmp_path: Path) -> None:
    with serving(tmp_path / "data") as service, chromium() as browser:
        base = service.base_url
        # -- the operator -------------------------------------------------------------------
        operator = browser.new_context(viewport=DESKTOP)
        page = operator.new_page()
        page.goto(f"{base}/operator")
        page.wait_for_url(f"{base}/operator/login")
        page.get_by_label("Operator token").fill("cro_not-a-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("That is not a live operator token.")
        page.get_by_label("Operator token").fill(service.operator_token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/operator")
        cookie = _cookie(operator, "callroster_operator")
        assert cookie["httpOnly"] is True and cookie["secure"] is True
        assert cookie["sameSite"] == "Strict" and cookie["path"] == "/operator"
        assert service.operator_token not in str(operator.cookies())
        expect(page.locator("#accounts")).to_have_text("No customer accounts yet.")

        page.get_by_label("Account name").fill("Meitner & Hahn")
        page.get_by_label("Region").select_option("london")
        page.get_by_label("First administrator's email").fill(ADMIN_EMAIL)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("status")).to_have_text("Account created.")
        link = page.locator("#setup-link").inner_text()
        assert link.startswith(f"{base}/setup/crsetup_")
        page.screenshot(path=str(tmp_path / "operator-created.png"))
        page.get_by_role("link", name="Back to the accounts").click()
        row = page.locator("#accounts tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator("th")).to_have_text("Meitner & Hahn")
        expect(row.locator("td").nth(1)).to_have_text("active")
        assert link not in page.content() and ADMIN_EMAIL not in page.content()
        page.screenshot(path=str(tmp_path / "operator-accounts.png"))

        # -- the administrator, on their phone -------------------------------------------------
        admin = browser.new_context(viewport=PHONE)
        phone = admin.new_page()
        phone.goto(link)
        expect(phone.get_by_role("heading", level=1)).to_have_text("Set up your account")
        phone.get_by_label("New password", exact=True).fill(PASSWORD)
        phone.get_by_label("The same password again").fill(PASSWORD + "!")
        phone.get_by_role("button", name="Set password and continue").click()
        expect(phone.get_by_role("alert")).to_have_text("The two passwords are not the same.")
        phone.get_by_label("New password", exact=True).fill(PASSWORD)
        phone.get_by_label("The same password again").fill(PASSWORD)
        phone.get_by_role("button", name="Set password and continue").click()
        phone.wait_for_url(f"{base}/account/second-factor")
        expect(phone.get_by_role("heading", level=1)).to_have_text("Set up your second factor")
        assert phone.evaluate("fetch('/api/v1/me').then(r => r.status)") == 401  # not yet
        phone.screenshot(path=str(tmp_path / "setup-second-factor.png"))
        secret = phone.locator("#totp-secret").inner_text().replace(" ", "")
        phone.get_by_label("The 6-digit code from the app").fill(pyotp.TOTP(secret).now())
        phone.get_by_role("button", name="Confirm").click()
        expect(phone.locator("#recovery-codes code")).to_have_count(10)
        me = phone.evaluate("fetch('/api/v1/me').then(r => r.json())")
        assert me["role"] == "administrator"

        # The link worked once.
        again = admin.new_page()
        again.goto(link)
        expect(again.get_by_role("alert")).to_contain_text("already used")

        # -- the operator terminates the account ----------------------------------------------
        page.get_by_role("link", name="Terminate…").click()
        expect(page.get_by_text("This cannot be undone.")).to_be_visible()
        page.get_by_role("button", name="Terminate Meitner & Hahn").click()
        page.wait_for_url(f"{base}/operator?done=terminate")
        expect(page.get_by_role("status")).to_have_text("Account terminated.")
        expect(row.locator("td").nth(1)).to_have_text("terminated")
        expect(row.get_by_role("button")).to_have_count(0)  # nothing more to do with it

        assert phone.evaluate("fetch('/api/v1/me').then(r => r.status)") == 401
        phone.goto(f"{base}/login")
        phone.get_by_label("Email").fill(ADMIN_EMAIL)
        phone.get_by_label("Password").fill(PASSWORD)
        phone.get_by_role("button", name="Sign in").click()
        expect(phone.get_by_role("alert")).to_have_text(
            "This account is suspended. Ask your administrator."
        )
