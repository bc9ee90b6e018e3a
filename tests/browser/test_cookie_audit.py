"""The cookie audit, in a real browser (Debian chromium) against ``callroster serve --demo``:
each kind of user accepts every optional cookie first ("Accept all" on the banner), so that
every cookie that can be set is set, then visits every page they can reach; the cookies the
browser then holds are each declared in ``web/cookies.py``, live no longer than declared and
have the declared attributes (``cookies.audit``).

- a guest: home, the conference page and its numbers page with a country chosen (the
  functionality cookie), privacy, cookies, cookie settings, data requests, sign-in pages, an
  unsubscribe page and a new account's set-up page;
- the demo host, signed in for a day: ``/me``, Live Call Status, an invitation, Tell a
  Friend, the second-factor page;
- an administrator with a second factor: the second step of signing in, ``/admin``, a
  person, the audit log;
- the operator: the operator's pages, privacy requests, consent records, an account's
  termination page.

Positive control: cookies planted in the same browser, one undeclared and one declared
cookie lasting longer than its declaration allows, are caught by the same check.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from tests.support.browser import chromium
from tests.support.service import running_service

from callroster.accounts import demo as demo_seed
from callroster.accounts.actor import Role, operator_cli
from callroster.config import REGIONS, load_settings
from callroster.privacy import consent
from callroster.store.store import open_store
from callroster.web import cookies

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
PASSWORD = "Lantern-Meridian-Oboe-48"
ADMIN_EMAIL = "ada.audit@demo-llp.example"
PUBLIC = (
    "/",
    "/privacy",
    "/cookies",
    "/cookies/settings",
    "/login",
    "/privacy/request",
    "/operator/login",
    "/unsubscribe/not-a-real-link",
)


def _held(context: BrowserContext) -> dict[str, dict[str, object]]:
    return {c["name"]: dict(c) for c in context.cookies()}


def _audit(context: BrowserContext) -> list[str]:
    return cookies.audit(context.cookies(), time.time())


def _visit(page: Page, base: str, paths: tuple[str, ...]) -> None:
    for path in paths:
        answer = page.goto(f"{base}{path}")
        assert answer is not None and answer.ok, (path, answer and answer.status)


def _accepting_all(browser: Browser, base: str) -> tuple[BrowserContext, Page]:
    """A new browser that has accepted every optional category on the banner."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{base}/privacy")
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_url(f"{base}/privacy")
    given = consent.parse_cookie(str(_held(context)["callroster_consent"]["value"]))
    assert given is not None and given.optional == set(consent.CHOOSABLE)
    return context, page


def _sign_in(page: Page, base: str, email: str, *, stay: bool = False) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    if stay:
        page.get_by_label("Stay signed in for one day").check()
    page.get_by_role("button", name="Sign in").click()


def test_every_cookie_a_browser_holds_is_declared_and_lives_no_longer(tmp_path: Path) -> None:
    with running_service(tmp_path / "data") as service:
        store = open_store(load_settings(data=service.data))
        try:
            [host] = store.accounts.find_user_ids_by_email(demo_seed.DEMO_HOST_EMAIL)
            store.users.set_password(OPERATOR, host, PASSWORD)
            account, _ = store.accounts.user_account_and_role(host)
            admin = store.accounts.create_user(
                OPERATOR, account, Role.ADMINISTRATOR, "Ada Audit", email=ADMIN_EMAIL,
                password=PASSWORD,
            )  # fmt: skip
            enrolment = store.second_factor.begin_enrolment(OPERATOR, admin)
            assert store.second_factor.confirm_enrolment(
                OPERATOR, admin, pyotp.TOTP(enrolment.secret).now()
            )
            _, operator_token = store.operator_tokens.issue(OPERATOR, "cookie audit")
            created = store.onboarding.create_account(
                OPERATOR, "Audit Customer Ltd", REGIONS[0], "first.admin@audit.example"
            )
            store.numbers.add(OPERATOR, "+33142868200", label="Paris")
            store.numbers.add(OPERATOR, "+442079460000", label="London")
        finally:
            store.close()
        base, demo = service.base_url, service.demo()
        room = demo["web_url"].removeprefix(base)
        with chromium() as browser:
            # A guest, on every public page, the conference's pages with a country chosen
            # (the functionality cookie) and a new account's set-up page.
            guest, page = _accepting_all(browser, base)
            _visit(
                page,
                base,
                (
                    *PUBLIC,
                    room,
                    f"{room}?country=FR",
                    f"{room}/numbers?country=FR",
                    f"/setup/{created.setup_token}",
                ),
            )
            held = _held(guest)
            assert {
                "callroster_consent",
                "callroster_region",
                "callroster_signin",
                "callroster_privacy",
                "callroster_operator_login",
            } <= set(held)
            assert _audit(guest) == []

            # The demo host, signed in for a day (the longest-lived session cookie).
            host_context, page = _accepting_all(browser, base)
            _sign_in(page, base, demo_seed.DEMO_HOST_EMAIL, stay=True)
            page.wait_for_url(f"{base}/me")
            _visit(
                page,
                base,
                (
                    "/me",
                    "/live",
                    f"/me/conferences/{demo['conference_id']}/invitation",
                    "/invite-a-friend",
                    "/account/second-factor",
                    f"{room}?country=GB",
                    *PUBLIC[:4],
                ),
            )
            held = _held(host_context)
            assert {"callroster_session", "callroster_device", "callroster_region"} <= set(held)
            assert float(str(held["callroster_session"]["expires"])) > time.time()  # persistent
            assert "callroster_signin" not in held  # deleted once signed in
            assert _audit(host_context) == []

            # An administrator, through the second step of signing in.
            admin_context, page = _accepting_all(browser, base)
            _sign_in(page, base, ADMIN_EMAIL)
            page.wait_for_url(f"{base}/login/second-factor**")
            page.get_by_label("The 6-digit code from your authenticator app").fill(
                pyotp.TOTP(enrolment.secret).at(time.time() + 30)
            )
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(f"{base}/me")
            _visit(page, base, ("/admin", f"/admin/users/{host}", "/admin/audit", *PUBLIC[:4]))
            assert "callroster_session" in _held(admin_context)
            assert _audit(admin_context) == []

            # The operator.
            operator_context, page = _accepting_all(browser, base)
            page.goto(f"{base}/operator/login")
            page.get_by_label("Operator token").fill(operator_token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/operator")
            _visit(
                page,
                base,
                (
                    "/operator",
                    "/operator/requests",
                    "/operator/consent",
                    f"/operator/accounts/{created.account_id}/terminate",
                    *PUBLIC[:4],
                ),
            )
            assert "callroster_operator" in _held(operator_context)
            assert _audit(operator_context) == []

            # Positive control: the same check catches what the service must never set.
            device = dict(_held(host_context)["callroster_device"])
            host_context.add_cookies(
                [
                    {"name": "_ga", "value": "GA1.1.1", "url": base},
                    {
                        "name": "callroster_device",
                        "value": str(device["value"]),
                        "domain": "127.0.0.1",
                        "path": "/login",
                        "expires": time.time() + 60 * 86400,
                        "httpOnly": True,
                        "secure": True,
                        "sameSite": "Strict",
                    },
                ]
            )
            problems = _audit(host_context)
            assert "_ga: not declared" in problems
            assert any(p.startswith("callroster_device: expires") for p in problems), problems
