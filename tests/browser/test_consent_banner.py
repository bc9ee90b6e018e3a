"""The consent banner in a real browser (Debian chromium) against ``callroster serve --demo``,
with every request each page makes recorded (``context.on("request")``) and the cookies the
browser holds read after each step:

- first visit: the banner (a named region, keyboard-reachable, axe-clean on a phone); before
  any choice only strictly necessary cookies and no request for page timing; positive
  control: after "Accept all" the beacon is sent and the compliance cookie lasts a month;
- "Reject all": no optional cookie (a country picked is not kept), no beacon, no banner on
  the next page; the form is posted with this site's ``Origin`` (not ``null``);
- "Choose" functionality only: the country picked is kept for a year, no beacon; taken back
  in "Cookie settings" from the footer, the cookie is gone from the browser;
- ``Sec-GPC: 1`` and ``DNT: 1``: never a banner, reject all recorded, and ``/cookies`` says
  the signal was honoured;
- a compliance cookie of an older policy version: asked again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect
from tests.browser.test_accessibility import check, shots_folder
from tests.support.browser import chromium
from tests.support.service import RunningService, running_service

from callroster.accounts.actor import operator_cli
from callroster.config import load_settings
from callroster.privacy import consent
from callroster.store.store import open_store
from callroster.web import cookies

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
BEACON = "/api/v1/page-timing"
MONTH = consent.CONSENT_LIFETIME.total_seconds()
YEAR = 365 * 86400
SLACK = 300  # seconds either side of an expiry


@dataclass
class Demo:
    service: RunningService
    room: str  # the demo conference's path, /c/<link>

    @property
    def base(self) -> str:
        return self.service.base_url


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("consent") / "data"
    with running_service(data) as service:
        store = open_store(load_settings(data=service.data))
        try:  # numbers in two countries, so that the page has its country picker
            store.numbers.add(OPERATOR, "+33142868200", label="Paris")
            store.numbers.add(OPERATOR, "+442079460000", label="London")
        finally:
            store.close()
        yield Demo(service, service.demo()["web_url"].removeprefix(service.base_url))


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as opened:
        yield opened


class Recorded:
    """Every request a browser context makes, in order."""

    def __init__(self, context: BrowserContext) -> None:
        self.urls: list[str] = []
        context.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        self.urls.append(request.url)

    def beacons(self) -> list[str]:
        return [url for url in self.urls if BEACON in url or "page_timing.js" in url]


def _held(context: BrowserContext) -> dict[str, dict[str, object]]:
    return {c["name"]: dict(c) for c in context.cookies()}


def _settled(page: Page) -> None:
    """The page has loaded and made every request it was going to (500 ms without one)."""
    page.wait_for_load_state("load")
    page.wait_for_load_state("networkidle")


def _banner(page: Page) -> Locator:
    return page.get_by_role("region", name=consent.BANNER_TITLE)


def _only_strictly_necessary(context: BrowserContext) -> None:
    for cookie in context.cookies():
        declared = cookies.BY_NAME.get(cookie["name"])
        assert declared is not None, cookie["name"]
        assert declared.category == consent.Category.STRICTLY_NECESSARY, cookie["name"]
    assert cookies.audit(context.cookies(), time.time()) == []


def _expires_in(context: BrowserContext, name: str) -> float:
    return float(str(_held(context)[name]["expires"])) - time.time()


def test_nothing_optional_before_a_choice_and_the_beacon_after_accept_all(
    demo: Demo, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    recorded = Recorded(context)
    page = context.new_page()
    before: dict[str, int] = {}  # requests each page made, by its path (the room as /c/…)
    for path in ("/", demo.room, f"{demo.room}?country=FR", "/privacy", "/cookies"):
        start = len(recorded.urls)
        page.goto(f"{demo.base}{path}")
        _settled(page)
        expect(_banner(page)).to_be_visible()
        before[path.replace(demo.room, "/c/…")] = len(recorded.urls) - start
    assert recorded.beacons() == []
    assert all(url.startswith(demo.base) for url in recorded.urls)  # first party only
    assert page.locator('script[src*="page_timing"]').count() == 0
    _only_strictly_necessary(context)
    assert "callroster_consent" not in _held(context)
    # The banner: reached from the keyboard, buttons alike, accessible on a phone.
    check(page, "consent-banner", shots_folder(tmp_path))
    accept = page.get_by_role("button", name="Accept all")
    reject = page.get_by_role("button", name="Reject all")
    accept_box, reject_box = accept.bounding_box(), reject.bounding_box()
    assert accept_box and reject_box
    assert abs(accept_box["height"] - reject_box["height"]) < 1
    assert abs(accept_box["width"] - reject_box["width"]) < 2
    assert accept.evaluate("e => getComputedStyle(e).backgroundColor") == reject.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert "Accept all" in focused and "Reject all" in focused and "Choose" in focused

    # Positive control: accept all, and the beacon goes out on the very next page.
    with page.expect_request(lambda r: BEACON in r.url and r.method == "POST") as beacon:
        accept.click()
        page.wait_for_url(f"{demo.base}/cookies")
    assert beacon.value.post_data_json["page"] == "/cookies"
    expect(_banner(page)).to_have_count(0)
    assert abs(_expires_in(context, "callroster_consent") - MONTH) < SLACK
    start = len(recorded.urls)
    with page.expect_request(lambda r: BEACON in r.url) as on_room:
        page.goto(f"{demo.base}{demo.room}")
    assert on_room.value.post_data_json["page"] == "/c/{link}"  # the template, not the link
    _settled(page)
    after = len(recorded.urls) - start
    assert before["/c/…"] + 2 == after, (before, after)  # the script and its beacon
    print(f"\nrequests per page before consent {before}; the room after accept all: {after}")


def test_reject_all_sets_nothing_optional_and_sends_no_beacon(demo: Demo, browser: Browser) -> None:
    context = browser.new_context()
    recorded = Recorded(context)
    page = context.new_page()
    page.goto(f"{demo.base}{demo.room}")
    with page.expect_request(lambda r: r.url.endswith("/consent")) as posted:
        page.get_by_role("button", name="Reject all").click()
    page.wait_for_url(f"{demo.base}{demo.room}")
    # The form's Origin is this site, not "null" (which Referrer-Policy: no-referrer made it):
    # what a browser without Sec-Fetch-Site, Safari before 16.4, is judged by (web/consent.py).
    assert posted.value.all_headers().get("origin") == demo.base
    expect(_banner(page)).to_have_count(0)
    page.get_by_label("Your country").select_option("FR")
    page.get_by_role("button", name="Show its numbers").click()
    page.wait_for_url(f"{demo.base}{demo.room}?country=FR")
    _settled(page)
    page.goto(f"{demo.base}/privacy")
    _settled(page)
    expect(_banner(page)).to_have_count(0)
    assert recorded.beacons() == []
    held = _held(context)
    assert "callroster_region" not in held and "callroster_consent" in held
    assert str(held["callroster_consent"]["value"]).split(".")[2] == "-"
    _only_strictly_necessary(context)


def test_functionality_only_keeps_the_country_a_year_until_taken_back(
    demo: Demo, browser: Browser
) -> None:
    context = browser.new_context(locale="en-GB")  # without a choice, British numbers first
    recorded = Recorded(context)
    page = context.new_page()
    page.goto(f"{demo.base}{demo.room}")
    expect(page.locator(".dial-in-number").first).to_contain_text("+442079460000")
    page.get_by_text("Choose", exact=True).click()
    page.get_by_label("Functionality", exact=True).check()
    page.get_by_role("button", name="Save my choice").click()
    page.wait_for_url(f"{demo.base}{demo.room}")
    page.get_by_label("Your country").select_option("FR")
    page.get_by_role("button", name="Show its numbers").click()
    page.wait_for_url(f"{demo.base}{demo.room}?country=FR")
    _settled(page)
    assert abs(_expires_in(context, "callroster_region") - YEAR) < SLACK
    assert _held(context)["callroster_region"]["value"] == "FR"
    # Remembered: the plain link shows the French number first.
    page.goto(f"{demo.base}{demo.room}")
    expect(page.locator(".dial-in-number").first).to_contain_text("+33142868200")
    _settled(page)
    assert recorded.beacons() == []
    assert cookies.audit(context.cookies(), time.time()) == []

    # Taken back from the footer's "Cookie settings": the cookie is gone from the browser.
    page.get_by_role("link", name="Cookie settings").click()
    page.wait_for_url(f"{demo.base}/cookies/settings")
    expect(page.locator("#current-choice")).to_contain_text("you accepted functionality")
    page.get_by_label("Functionality", exact=True).uncheck()
    page.get_by_role("button", name="Save my choice").click()
    page.wait_for_url(f"{demo.base}/cookies/settings?saved=1")
    expect(page.locator("#current-choice")).to_contain_text("you rejected all optional")
    assert "callroster_region" not in _held(context)
    page.goto(f"{demo.base}{demo.room}")
    expect(page.locator(".dial-in-number").first).to_contain_text("+442079460000")


@pytest.mark.parametrize(("header", "name"), [("Sec-GPC", "gpc"), ("DNT", "dnt")])
def test_a_privacy_signal_is_honoured_without_asking(
    demo: Demo, browser: Browser, header: str, name: str
) -> None:
    context = browser.new_context(extra_http_headers={header: "1"})
    recorded = Recorded(context)
    page = context.new_page()
    for path in ("/", demo.room, "/cookies"):
        page.goto(f"{demo.base}{path}")
        _settled(page)
        expect(_banner(page)).to_have_count(0)
    expect(page.locator("#signal-honoured")).to_contain_text(
        f"Your browser sends {consent.SIGNAL_NAMES[name]}. We have honoured it"
    )
    given = consent.parse_cookie(str(_held(context)["callroster_consent"]["value"]))
    assert given is not None and given.method == name and given.optional == frozenset()
    assert recorded.beacons() == []
    _only_strictly_necessary(context)


def test_a_new_policy_version_asks_again(demo: Demo, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{demo.base}/privacy")
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_url(f"{demo.base}/privacy")
    expect(_banner(page)).to_have_count(0)
    held = _held(context)["callroster_consent"]
    given = consent.parse_cookie(str(held["value"]))
    assert given is not None
    # The browser's consent, as it would read after the text changed to a newer version.
    older = consent.Consent(given.optional, "2025-03-13", given.method, given.record_id)
    context.add_cookies([{**held, "value": older.cookie_value()}])  # type: ignore[list-item]
    page.goto(f"{demo.base}/privacy")
    expect(_banner(page)).to_be_visible()
    page.get_by_role("button", name="Reject all").click()
    page.wait_for_url(f"{demo.base}/privacy")
    renewed = consent.parse_cookie(str(_held(context)["callroster_consent"]["value"]))
    assert renewed is not None and renewed.version == consent.POLICY_VERSION
    assert renewed.record_id != given.record_id
