"""A host's own page in a real browser against a running service with a real caller (sipp):
the host signs in, finds the conference's dial-in details, PIN and room link on /me, opens
Live Call Status and controls the call by their session alone (no token in the address),
edits their phone, authorises a delegate (who then manages the call, but sees no profile of
the host's) and gives the conference a new PIN, after which the old one opens nothing."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.browser.test_live_call_status import _call
from tests.support.browser import chromium
from tests.support.service import RunningService, running_service

from callroster.accounts import demo as demo_seed
from callroster.accounts.actor import Role, operator_cli
from callroster.config import load_settings
from callroster.store.store import open_store

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
PASSWORD = "Saffron-Glacier-Piano-62"
DELEGATE_EMAIL = "dee.delegate@demo-llp.example"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    with running_service(tmp_path / "data") as running:
        # The operator gives the demo host a password and adds a delegate, as the portal would.
        store = open_store(load_settings(data=running.data))
        try:
            [host] = store.accounts.find_user_ids_by_email(demo_seed.DEMO_HOST_EMAIL)
            store.users.set_password(OPERATOR, host, PASSWORD)
            account, _ = store.accounts.user_account_and_role(host)
            store.accounts.create_user(
                OPERATOR,
                account,
                Role.DELEGATE,
                "Dee Delegate",
                email=DELEGATE_EMAIL,
                password=PASSWORD,
            )
        finally:
            store.close()
        yield running


def _roster(service: RunningService, demo: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{service.base_url}/api/v1/conferences/{demo['conference_id']}/legs",
        headers={"Authorization": f"Bearer {demo['host_token']}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        roster: dict[str, Any] = json.load(response)
    return roster


def _signed_in(browser: Browser, service: RunningService, email: str) -> Page:
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.goto(f"{service.base_url}/login?next=/me")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{service.base_url}/me")
    return page


def test_a_signed_in_host_runs_the_call_and_looks_after_their_conference(
    service: RunningService, tmp_path: Path
) -> None:
    demo = service.demo()
    caller = _call(service, demo, tmp_path, "refused", duration_ms=30000)
    try:
        with chromium() as browser:
            page = _signed_in(browser, service, demo_seed.DEMO_HOST_EMAIL)
            conference = page.locator("article.conference")
            expect(conference.locator(".pin")).to_have_text(demo["pin"])
            link = conference.locator(".room-link")
            expect(link).to_have_text(demo["web_url"])

            # Live Call Status by the session: host controls, no token in the address.
            conference.get_by_role("link", name="Open Live Call Status").click()
            page.wait_for_url("**/c/*")
            assert "#token" not in page.url
            page.get_by_role("status").filter(has_text="Live").wait_for(timeout=10_000)
            leg = page.locator("#legs li").first
            leg.wait_for(timeout=10_000)
            page.locator("#host-controls").get_by_role("button", name="Lock").click()
            page.locator("#locked").wait_for(state="visible", timeout=5_000)
            leg.locator("button[data-action=mute]").click()
            leg.locator(".badge.muted").wait_for(timeout=5_000)
            roster = _roster(service, demo)
            assert roster["locked"] is True and roster["legs"][0]["muted"] is True

            # Profile, delegate, new PIN.
            page.goto(f"{service.base_url}/me")
            page.get_by_label("Your phone (click-to-call rings it first)").fill("07700 900444")
            page.get_by_role("button", name="Save profile").click()
            expect(page.locator("#notice")).to_have_text("Profile saved.")
            expect(page.get_by_label("Your phone (click-to-call rings it first)")).to_have_value(
                "+447700900444"
            )
            page.get_by_label("Authorise a delegate by their email").fill(DELEGATE_EMAIL)
            page.get_by_role("button", name="Authorise").click()
            expect(page.locator("#notice")).to_have_text("Delegate authorised.")
            expect(page.locator("#delegate-list")).to_contain_text("Dee Delegate")
            page.get_by_label("Authorise a delegate by their email").fill("nobody@else.example")
            page.get_by_role("button", name="Authorise").click()
            expect(page.locator("#message")).to_have_text("Nobody in your account has that email.")

            # A new PIN breaks every invitation: asked for twice, behind "Change the PIN…".
            page.get_by_text("Change the PIN…").click()
            page.get_by_label("Yes, the old PIN stops working").check()
            page.get_by_role("button", name="Give it a new PIN").click()
            expect(page.locator("#notice")).to_contain_text("The conference has a new PIN")
            new_pin = page.locator("article.conference .pin").inner_text()
            assert new_pin != demo["pin"]
            assert new_pin not in page.url  # the new PIN travels in no URL

            # The delegate manages the call, and sees no profile of the host's.
            delegate = _signed_in(browser, service, DELEGATE_EMAIL)
            managed = delegate.locator("#managed + article.conference")
            expect(managed.locator(".pin")).to_have_text(new_pin)
            assert demo_seed.DEMO_HOST_EMAIL not in delegate.content()
            managed.get_by_role("link", name="Open Live Call Status").click()
            delegate.get_by_role("status").filter(has_text="Live").wait_for(timeout=10_000)
            delegate.locator("#host-controls").get_by_role("button", name="Unlock").click()
            delegate.locator("#locked").wait_for(state="hidden", timeout=5_000)
            assert _roster(service, demo)["locked"] is False
    finally:
        if caller.poll() is None:
            caller.kill()
    # The old PIN opens nothing now.
    store = open_store(load_settings(data=service.data))
    try:
        assert store.conferences.open_with_pin(demo["pin"]) is None
        assert store.conferences.open_with_pin(new_pin) is not None
    finally:
        store.close()
