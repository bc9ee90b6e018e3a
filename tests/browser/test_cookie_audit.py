"""The cookie audit, in a real browser (Debian chromium) against ``callroster serve --demo``:
the cookies a browser really holds after using the service, as a guest on every public page,
as the demo host signed in with "stay signed in", and as the operator, are each declared in
``web/cookies.py`` and live no longer than declared, with the declared attributes
(``cookies.audit``). Positive control: cookies planted in the same browser, one undeclared and
one declared cookie lasting longer than its declaration allows, are caught by the same check.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page
from tests.support.browser import chromium
from tests.support.service import running_service

from callroster.accounts import demo as demo_seed
from callroster.accounts.actor import operator_cli
from callroster.config import load_settings
from callroster.store.store import open_store
from callroster.web import cookies

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
PASSWORD = "Lantern-Meridian-Oboe-48"
PUBLIC = ("/", "/privacy", "/cookies", "/login", "/privacy/request", "/operator/login")


def _held(context: BrowserContext) -> dict[str, dict[str, object]]:
    return {c["name"]: dict(c) for c in context.cookies()}


def _audit(context: BrowserContext) -> list[str]:
    return cookies.audit(context.cookies(), time.time())


def _visit(page: Page, base: str, paths: tuple[str, ...]) -> None:
    for path in paths:
        answer = page.goto(f"{base}{path}")
        assert answer is not None and answer.ok, (path, answer and answer.status)


def test_every_cookie_a_browser_holds_is_declared_and_lives_no_longer(tmp_path: Path) -> None:
    with running_service(tmp_path / "data") as service:
        store = open_store(load_settings(data=service.data))
        try:
            [host] = store.accounts.find_user_ids_by_email(demo_seed.DEMO_HOST_EMAIL)
            store.users.set_password(OPERATOR, host, PASSWORD)
            _, operator_token = store.operator_tokens.issue(OPERATOR, "cookie audit")
        finally:
            store.close()
        base, conference = service.base_url, service.demo()["web_url"]
        with chromium() as browser:
            # A guest, on every public page and a conference's page.
            guest = browser.new_context()
            page = guest.new_page()
            _visit(page, base, (*PUBLIC, conference.removeprefix(base)))
            assert {"callroster_signin", "callroster_privacy", "callroster_operator_login"} <= set(
                _held(guest)
            )
            assert _audit(guest) == []

            # The demo host, signed in for a day (the longest-lived session cookie).
            host_context = browser.new_context()
            page = host_context.new_page()
            page.goto(f"{base}/login")
            page.get_by_label("Email").fill(demo_seed.DEMO_HOST_EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_label("Stay signed in for one day").check()
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/me")
            _visit(page, base, ("/me", "/live", *PUBLIC[:3]))
            held = _held(host_context)
            assert {"callroster_session", "callroster_device"} <= set(held)
            assert float(str(held["callroster_session"]["expires"])) > time.time()  # persistent
            assert "callroster_signin" not in held  # deleted once signed in
            assert _audit(host_context) == []

            # The operator.
            operator_context = browser.new_context()
            page = operator_context.new_page()
            page.goto(f"{base}/operator/login")
            page.get_by_label("Operator token").fill(operator_token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/operator")
            _visit(page, base, ("/operator", "/operator/requests", *PUBLIC[:3]))
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
