"""Signing in, in a real browser (Debian chromium through Playwright) against the web app
served by uvicorn on a loopback port, on a phone-sized screen: a host signs in and sees who
they are; an administrator enrols a TOTP second factor (codes computed with pyotp, as a phone
would), sees the recovery codes, signs out and signs in again with a code; a session left
idle for 16 minutes (moved back in the database through a second store, as nothing may sleep
to wait for a policy) sends the next page load to /login.

The app is the service's own (``create_app``) with the sign-in router included, served from a
thread; the test opens the same SQLite store beside it, as an operator's command would.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import uvicorn
from playwright.sync_api import BrowserContext, Page, expect
from tests.support.browser import chromium
from tests.support.waiting import wait_until_sync
from tests.web.test_signin import signin_app

from callroster.accounts.actor import Role, operator_cli
from callroster.config import Settings, load_settings
from callroster.store.models import SignInSession
from callroster.store.sessions import session_id_of
from callroster.store.store import open_store

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
HOST_EMAIL = "harriet.host@demo.example"
ADMIN_EMAIL = "dana.admin@demo.example"
PASSWORD = "Lantern-Meridian-Oboe-48"
PHONE = {"width": 390, "height": 844}


@dataclass
class Service:
    base_url: str
    settings: Settings


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app on a free loopback port, in a thread of this process, with its own store."""
    store = open_store(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        signin_app(store, settings), log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until_sync(
            lambda: server.started or not thread.is_alive(), 10, "the server to start", 0.01
        )
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    settings = load_settings(data=tmp_path / "data")
    setup = open_store(settings)
    try:
        account_id = setup.accounts.create_account(OPERATOR, "Demo LLP", "london")
        setup.accounts.create_user(
            OPERATOR, account_id, Role.HOST, "Harriet Host", email=HOST_EMAIL, password=PASSWORD
        )
        setup.accounts.create_user(
            OPERATOR,
            account_id,
            Role.ADMINISTRATOR,
            "Dana Admin",
            email=ADMIN_EMAIL,
            password=PASSWORD,
        )
    finally:
        setup.close()
    with serving(settings) as base_url:
        yield Service(base_url, settings)


def _sign_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    _fill_sign_in(page, email)


def _fill_sign_in(page: Page, email: str, *, stay: bool = False) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    if stay:
        page.get_by_label("Stay signed in for one day").check()
    page.get_by_role("button", name="Sign in").click()


def _session_cookie(context: BrowserContext) -> dict[str, object]:
    cookies = [c for c in context.cookies() if c["name"] == "callroster_session"]
    assert len(cookies) == 1, context.cookies()
    return dict(cookies[0])


def test_a_host_signs_in_and_sees_who_they_are(service: Service, tmp_path: Path) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        _sign_in(page, service.base_url, HOST_EMAIL)
        page.wait_for_url(f"{service.base_url}/me")
        expect(page.locator("#name")).to_have_text("Harriet Host")
        expect(page.locator("#role")).to_have_text("Host")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        # Chromium keeps a Secure cookie from http://127.0.0.1 (a secure context).
        cookie = _session_cookie(context)
        assert cookie["httpOnly"] is True and cookie["secure"] is True
        assert cookie["sameSite"] == "Lax" and cookie["path"] == "/"
        assert cookie["expires"] == -1  # a browser-session cookie: no Max-Age
        assert page.evaluate("document.cookie") == ""  # no script can read it
        # The page's scripts get the CSRF token from the page, and the API takes the cookie.
        csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
        me = page.evaluate("fetch('/api/v1/me').then(r => r.json())")
        assert me["name"] == "Harriet Host" and me["role"] == "host"
        statuses = page.evaluate(
            """async (csrf) => {
                const send = (headers) => fetch('/api/v1/contacts', {method: 'POST',
                    headers: {'Content-Type': 'text/csv', ...headers},
                    body: 'Rhoda Contact,+442079460123\\n'}).then(r => r.status);
                return [await send({}), await send({'X-CSRF-Token': csrf})];
            }""",
            csrf,
        )
        assert statuses == [403, 201]
        page.screenshot(path=str(tmp_path / "me.png"))
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{service.base_url}/login")
        assert not [c for c in context.cookies() if c["name"] == "callroster_session"]

        # A wrong password: a clear message, announced, and the form again.
        page.get_by_label("Email").fill(HOST_EMAIL)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
        expect(page.get_by_label("Email")).to_have_value(HOST_EMAIL)


def test_an_administrator_enrols_totp_signs_out_and_in_with_a_code_then_idles_out(
    service: Service, tmp_path: Path
) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        _sign_in(page, service.base_url, ADMIN_EMAIL)
        page.wait_for_url(f"{service.base_url}/account/second-factor")
        # Nothing else is usable until the second factor is set up.
        page.goto(f"{service.base_url}/me")
        page.wait_for_url(f"{service.base_url}/account/second-factor?next=/me")
        assert page.evaluate("fetch('/api/v1/me').then(r => r.status)") == 401

        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        uri = page.locator("#totp-uri").get_attribute("href")
        assert uri is not None and uri.startswith("otpauth://totp/Callroster:")
        assert pyotp.parse_uri(uri).secret == secret
        page.screenshot(path=str(tmp_path / "enrol.png"))
        page.get_by_label("The 6-digit code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm").click()
        codes = page.locator("#recovery-codes code")
        expect(codes).to_have_count(10)
        recovery_codes = codes.all_inner_texts()
        page.screenshot(path=str(tmp_path / "recovery-codes.png"))
        page.get_by_role("link", name="I have saved them: continue").click()
        page.wait_for_url(f"{service.base_url}/me")
        expect(page.locator("#role")).to_have_text("Administrator")

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{service.base_url}/login")
        _sign_in(page, service.base_url, ADMIN_EMAIL)
        page.wait_for_url(f"{service.base_url}/login/second-factor")
        # The code the enrolment used cannot be replayed; the phone's next one works (the
        # service accepts one 30-second step either side).
        next_code = pyotp.TOTP(secret).at(time.time() + 30)
        page.get_by_label("The 6-digit code from your authenticator app").fill(next_code)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{service.base_url}/me")
        expect(page.locator("#name")).to_have_text("Dana Admin")
        for code in recovery_codes:  # shown once, never again
            assert code not in page.content()

        # 16 minutes without activity: moved in the database, beside the running service.
        token = str(_session_cookie(context)["value"])
        other = open_store(service.settings)
        try:
            with other.sessions.begin() as session:
                row = session.get_one(SignInSession, session_id_of(token))
                row.last_seen_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
        finally:
            other.close()
        page.reload()
        page.wait_for_url(f"{service.base_url}/login?next=/me")
        expect(page.get_by_label("Email")).to_be_visible()
        # Signing in again goes back to where the user was, after the second factor (a
        # recovery code this time).
        _fill_sign_in(page, ADMIN_EMAIL)
        page.wait_for_url(f"{service.base_url}/login/second-factor?next=/me")
        page.get_by_label("The 6-digit code from your authenticator app").fill(recovery_codes[0])
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{service.base_url}/me")
