"""Every page of the web app, as the people who use it see it, in a real browser (Debian
chromium through Playwright) against a running service with callers on the call (sipp, and a
guest joined from the browser): axe-core finds no serious or critical violation; nothing
is wider than a 390 px phone (WCAG 1.4.10); every field and button is at least 24 px tall
(WCAG 2.5.8); the focus ring has 3:1 or more against the page (WCAG 1.4.11).

Each page is shot at phone and desktop width. With ``SCREENSHOTS=docs/screenshots``
the shots are written there (the README shows them); otherwise to the test's own folder.

axe-core is the copy bundled by ``axe-playwright-python`` (pinned in pyproject.toml), injected
with ``page.evaluate``, which the pages' script policy does not govern."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from tests.browser.test_live_call_status import _call
from tests.support.browser import chromium
from tests.support.service import RunningService, running_service

from callroster.accounts import demo as demo_seed
from callroster.accounts.actor import Role, operator_cli
from callroster.config import REGIONS, load_settings
from callroster.store.store import open_store

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
PASSWORD = "Juniper-Lattice-Harbour-31"
ADMIN_EMAIL = "ada.admin@demo-llp.example"
NEW_ADMIN_EMAIL = "nia.new@demo-llp.example"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
BLOCKING = {"serious", "critical"}
AXE = Axe()


@dataclass
class World:
    service: RunningService
    demo: dict[str, Any]
    admin_secret: str
    host_id: str
    operator_token: str
    setup_path: str  # a new customer account's administrator's set-up link


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("a11y") / "data"
    with running_service(data, settings={"sip_trusted_peers": "127.0.0.1"}) as running:
        store = open_store(load_settings(data=running.data))
        try:
            [host] = store.accounts.find_user_ids_by_email(demo_seed.DEMO_HOST_EMAIL)
            store.users.set_password(OPERATOR, host, PASSWORD)
            account, _ = store.accounts.user_account_and_role(host)
            admin = store.accounts.create_user(
                OPERATOR, account, Role.ADMINISTRATOR, "Ada Admin", email=ADMIN_EMAIL,
                password=PASSWORD,
            )  # fmt: skip
            enrolment = store.second_factor.begin_enrolment(OPERATOR, admin)
            assert store.second_factor.confirm_enrolment(
                OPERATOR, admin, pyotp.TOTP(enrolment.secret).now()
            )
            store.accounts.create_user(
                OPERATOR, account, Role.ADMINISTRATOR, "Nia New", email=NEW_ADMIN_EMAIL,
                password=PASSWORD,
            )  # fmt: skip
            _, operator_token = store.operator_tokens.issue(OPERATOR, "accessibility test")
            created = store.onboarding.create_account(
                OPERATOR, "Fresh Customer Ltd", REGIONS[0], "first.admin@fresh.example"
            )
        finally:
            store.close()
        yield World(
            running,
            running.demo(),
            enrolment.secret,
            host,
            operator_token,
            f"/setup/{created.setup_token}",
        )


def shots_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def contrast(first: str, second: str) -> float:
    """WCAG's contrast ratio of two CSS colours (``rgb(r, g, b)`` or ``#rrggbb``)."""

    def luminance(colour: str) -> float:
        if colour.startswith("#"):
            channels = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        else:
            channels = [int(c) for c in re.findall(r"\d+", colour)[:3]]
        linear = [
            c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
            for c in channels
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_contrast_check_fails_the_old_focus_ring() -> None:
    # Positive control: the orange ring of before (#f5a623 on white) is about 2:1.
    assert contrast("#f5a623", "#ffffff") < 3
    assert contrast("rgb(26, 95, 180)", "rgb(255, 255, 255)") >= 3
    assert round(contrast("#000000", "#ffffff")) == 21


def test_axe_finds_what_it_should_on_a_page_made_bad() -> None:
    # Positive control: a field without a label and an image without a text alternative.
    with chromium() as browser:
        page = browser.new_page()
        page.set_content('<html lang="en"><title>bad</title><input id="x"><img src="x.png">')
        found = {v["id"] for v in AXE.run(page).response["violations"] if v["impact"] in BLOCKING}
        assert {"label", "image-alt"} <= found, found


def check(page: Page, name: str, folder: Path) -> None:
    """axe-core, the phone's width, target sizes; then the two screenshots."""
    page.wait_for_load_state("networkidle")
    violations = [v for v in AXE.run(page).response["violations"] if v.get("impact") in BLOCKING]
    assert violations == [], [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5]) for v in violations
    ]
    small = page.evaluate(
        """() => [...document.querySelectorAll(
              'input:not([type=hidden]), select, textarea, button, summary')]
            .filter((el) => el.offsetParent !== null)
            .map((el) => [el.id || el.name || el.textContent.trim(),
                          el.getBoundingClientRect().height])
            .filter(([, height]) => height < 24)"""
    )
    assert small == [], f"{name}: smaller than 24 px: {small}"
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('main *')]
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert width <= PHONE["width"], f"{name} is {width} px wide on a phone: {wide}"
    page.evaluate("window.scrollTo(0, 0)")  # the top of the page, as it opens
    page.screenshot(path=str(folder / f"{name}-phone.png"))
    page.set_viewport_size(DESKTOP)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(folder / f"{name}-desktop.png"))


def _new_page(browser: Browser) -> Page:
    return browser.new_context(viewport=DESKTOP).new_page()


def _reject_cookies(page: Page) -> None:
    """A first visit's cookie banner, answered "Reject all" (checked by axe with the banner on
    the home page first): the later pages and their screenshots show the page itself."""
    page.get_by_role("button", name="Reject all").click()
    expect(page.get_by_role("button", name="Reject all")).to_have_count(0)


def _sign_in(page: Page, base_url: str, email: str, next_path: str) -> None:
    page.goto(f"{base_url}/login?next={next_path}")
    _reject_cookies(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_every_page_passes_axe_fits_a_phone_and_is_shot(world: World, tmp_path: Path) -> None:
    folder = shots_folder(tmp_path)
    base, demo = world.service.base_url, world.demo
    callers = []
    for name, scenario in (("a", "asserted"), ("b", "refused")):
        (tmp_path / name).mkdir()
        callers.append(_call(world.service, demo, tmp_path / name, scenario, 90_000))
    try:
        with chromium() as browser:
            anonymous = _new_page(browser)
            anonymous.goto(base)
            expect(anonymous.locator("h1")).to_have_text("Join a meeting")
            check(anonymous, "home", folder)  # a first visit: with the cookie banner
            _reject_cookies(anonymous)
            anonymous.get_by_label("Room link or PIN").fill("12")
            anonymous.get_by_role("button", name="Join").click()
            expect(anonymous.locator("#room-error")).to_contain_text("neither a room link")
            check(anonymous, "home-error", folder)
            anonymous.goto(f"{base}/c/no-such-room-link")
            expect(anonymous.locator("h1")).to_have_text("No meeting at this link")
            check(anonymous, "not-found", folder)
            anonymous.goto(f"{base}/login")
            check(anonymous, "sign-in", folder)

            # A guest with the room link, who joins from the browser.
            guest = _new_page(browser)
            guest.goto(base)
            _reject_cookies(guest)
            guest.get_by_label("Room link or PIN").fill(demo["web_url"])
            guest.get_by_role("button", name="Join").click()
            guest.wait_for_url("**/c/*")
            guest.get_by_role("status").filter(has_text="Live").wait_for(timeout=10_000)
            guest.get_by_label("Your name, as everyone on the call will see it").first.fill(
                "Wendy Web"
            )
            guest.get_by_role("button", name="Join with my microphone").click()
            expect(guest.locator("#legs li")).to_have_count(3, timeout=20_000)
            expect(guest.locator("#count")).to_have_text("3")
            expect(guest.locator("#legs li", has_text="Wendy Web")).to_contain_text("Browser")
            # The account shows guests no numbers: the two phones are told apart by order.
            names = guest.locator("#legs li .name")
            expect(names).to_have_text(["Caller 1", "Caller 2", "Wendy Web"])
            expect(guest.locator("#legs li").first).to_contain_text("Phone")
            expect(guest.locator("#legs li").first.locator(".on-for")).to_contain_text("on for")
            assert guest.locator("#host-controls").is_hidden()
            check(guest, "room-guest", folder)

            # The host, signed in: their page, then Live Call Status with the controls.
            host = _new_page(browser)
            _sign_in(host, base, demo_seed.DEMO_HOST_EMAIL, "/me")
            host.wait_for_url(f"{base}/me")
            expect(host.locator("h1")).to_have_text("My conferences")
            check(host, "my-conferences", folder)
            host.get_by_role("link", name="Live Call Status").first.click()
            host.wait_for_url("**/c/*")
            expect(host.locator("#signed-in-as")).to_contain_text("Signed in as")
            expect(host.locator("#host-controls")).to_be_visible()
            expect(host.locator("#legs li")).to_have_count(3, timeout=10_000)
            host.locator("#mute-all").click()
            expect(host.locator("#host-feedback")).to_contain_text("muted")
            host.locator("#lock").click()
            expect(host.locator("#host-feedback")).to_contain_text("Locked")
            expect(host.locator("#locked")).to_be_visible()
            drop = host.locator("#legs li").first.locator("button[data-action=drop]")
            expect(drop).to_have_class(re.compile(r"\bdanger\b"))
            check(host, "room-host", folder)

            # The administrator: the portal, a person, the audit log.
            admin = _new_page(browser)
            _sign_in(admin, base, ADMIN_EMAIL, "/admin")
            admin.wait_for_url(f"{base}/login/second-factor?next=/admin")
            check(admin, "second-step", folder)
            admin.get_by_label("The 6-digit code from your authenticator app").fill(
                pyotp.TOTP(world.admin_secret).at(time.time() + 30)
            )
            admin.get_by_role("button", name="Continue").click()
            admin.wait_for_url(f"{base}/admin")
            check(admin, "admin", folder)
            admin.goto(f"{base}/admin/users/{world.host_id}")
            check(admin, "admin-person", folder)
            admin.goto(f"{base}/admin/audit")
            expect(admin.locator("#audit li").first).to_be_visible()
            check(admin, "audit-log", folder)

            # A new administrator sets up their second factor, from a QR code.
            new = _new_page(browser)
            _sign_in(new, base, NEW_ADMIN_EMAIL, "/admin")
            new.wait_for_url("**/account/second-factor**")
            expect(new.locator("#totp-qr")).to_be_visible()
            check(new, "second-factor-setup", folder)
            focus_ring(new)
    finally:
        for caller in callers:
            if caller.poll() is None:
                caller.kill()
            caller.wait()


def focus_ring(page: Page) -> None:
    """Tab to the first field: its focus ring has 3:1 or more against the page behind it."""
    field = page.get_by_label("The 6-digit code from the app")
    field.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    ring = field.evaluate("(el) => getComputedStyle(el).outlineColor")
    behind = page.evaluate("getComputedStyle(document.body).backgroundColor")
    width = field.evaluate("(el) => parseFloat(getComputedStyle(el).outlineWidth)")
    assert width >= 2 and contrast(ring, behind) >= 3, (ring, behind, width)


def test_the_operator_set_up_and_invitation_pages_pass_too(world: World, tmp_path: Path) -> None:
    folder = shots_folder(tmp_path)
    base = world.service.base_url
    with chromium() as browser:
        operator = _new_page(browser)
        operator.goto(f"{base}/operator/login")
        _reject_cookies(operator)
        check(operator, "operator-sign-in", folder)
        operator.get_by_label("Operator token").fill(world.operator_token)
        operator.get_by_role("button", name="Sign in").click()
        operator.wait_for_url(f"{base}/operator")
        expect(operator.locator("#accounts")).to_contain_text("Fresh Customer Ltd")
        check(operator, "operator", folder)

        newcomer = _new_page(browser)
        newcomer.goto(f"{base}{world.setup_path}")
        _reject_cookies(newcomer)
        check(newcomer, "account-set-up", folder)

        host = _new_page(browser)
        _sign_in(host, base, demo_seed.DEMO_HOST_EMAIL, "/me")
        host.wait_for_url(f"{base}/me")
        host.get_by_role("link", name="Invite people").first.click()
        host.wait_for_url("**/invitation")
        check(host, "invitation", folder)
