"""Cookie consent in-process, against the real app over https://testserver: the banner until a
choice, ``POST /consent`` (recorded, the compliance cookie set, refused categories' cookies
expired, back to a local page; refused from another site, too large or too often), the
middleware (the consent seen by sync and async routes alike; a refused category's cookie
expired when carried and dropped when a route sets it), Global Privacy Control and Do Not
Track (recorded once, never asked), the region cookie (only with functionality consent), the
settings page and the page-timing beacon (only with performance consent, bounded)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from callroster.accounts import demo
from callroster.accounts.actor import operator_cli
from callroster.api.rate_limit import SlidingWindow
from callroster.app import create_app
from callroster.config import Settings
from callroster.privacy import consent
from callroster.privacy.consent import Category, Consent
from callroster.store.store import Store
from callroster.web import consent as web_consent
from callroster.web import consent_state, page_timing
from callroster.web.consent_middleware import back_to

OPERATOR = operator_cli("test")
SAME = {"Sec-Fetch-Site": "same-origin", "Accept": "text/html"}
PLAN = {"+33142868200": "Paris", "+442079460000": "London"}


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    app = create_app(store, settings)

    # Two probes: what a sync and an async route see of the request's consent, and a route
    # that sets a functionality cookie without asking (the middleware must drop it).
    @app.get("/probe/sync")
    def sync_probe() -> JSONResponse:
        return JSONResponse(_seen())

    @app.get("/probe/async")
    async def async_probe() -> JSONResponse:
        return JSONResponse(_seen())

    @app.get("/probe/careless")
    def careless() -> JSONResponse:
        answer = JSONResponse({})
        answer.set_cookie("callroster_region", "FR", path="/c", secure=True, httponly=True)
        return answer

    return app


def _seen() -> dict[str, object]:
    state = consent_state.current()
    assert state is not None
    return {
        "optional": sorted(c.key for c in state.decision.optional),
        "ask": state.decision.ask,
    }


def client(app: FastAPI, **headers: str) -> TestClient:
    return TestClient(
        app, base_url="https://testserver", follow_redirects=False, headers=headers or None
    )


def _cookie_of(answer_cookies: list[str], name: str) -> str | None:
    return next((c for c in answer_cookies if c.startswith(f"{name}=")), None)


def choose(browser: TestClient, choice: str, **fields: str) -> list[str]:
    answer = browser.post("/consent", data={"choice": choice, **fields}, headers=SAME)
    assert answer.status_code == 303, answer.text
    return answer.headers.get_list("set-cookie")


def test_the_banner_shows_until_a_choice_and_sets_nothing_before(app: FastAPI) -> None:
    browser = client(app)
    for path in ("/", "/cookies", "/privacy", "/login", "/no-such-page"):
        answer = browser.get(path, headers={"Accept": "text/html"})
        assert 'id="consent-banner"' in answer.text, path
        assert answer.headers.get_list("set-cookie") == [] or path == "/login"
        assert "page_timing.js" not in answer.text
    page = browser.get("/privacy").text
    banner = page.split('id="consent-banner"')[1].split("</section>")[0]
    # Accept and reject: the same button, side by side, in one form; "Choose" beside them.
    buttons = re.findall(
        r'<button type="submit" name="choice" value="(\w+)" class="([^"]+)"', banner
    )
    assert buttons[:2] == [("all", "consent-choice"), ("none", "consent-choice")]
    assert "<summary>Choose</summary>" in banner and "Not used: Callroster sets none." in banner
    assert 'name="next" value="/privacy"' in banner
    # The forms come back to this path, with the country chosen and nothing else of a query.
    for asked, back in (
        ("/login?next=//evil.example", "/login"),
        ("/privacy?country=FR&x=1", "/privacy?country=FR"),
        ("/privacy?country=%22%3E", "/privacy"),
    ):
        assert f'name="next" value="{back}"' in browser.get(asked).text, asked
    assert 'name="targeting"' not in banner
    # Not on the settings page itself, which is the same choice.
    assert 'id="consent-banner"' not in browser.get("/cookies/settings").text
    cookies = choose(browser, "none", next="/privacy", **{"from": "banner"})
    assert _cookie_of(cookies, "callroster_consent")
    assert 'id="consent-banner"' not in browser.get("/privacy").text


def test_accept_all_is_recorded_and_kept_for_a_month(app: FastAPI, store: Store) -> None:
    browser = client(app, **{"User-Agent": "TestBrowser/1.0"})
    cookies = choose(browser, "all", next="/cookies?x=1", **{"from": "banner"})
    value = _cookie_of(cookies, "callroster_consent")
    assert value is not None
    assert "Max-Age=2592000; Path=/; Secure; HttpOnly; SameSite=Lax" in value
    given = consent.parse_cookie(value.split(";")[0].split("=", 1)[1])
    assert given is not None and given.method == "banner"
    assert given.optional == {Category.PERFORMANCE, Category.FUNCTIONALITY}
    record = store.consent_records.get(given.record_id)
    assert record is not None
    assert record.optional == {"performance", "functionality"} and record.method == "banner"
    assert (record.policy_version, record.text_sha256) == (VERSION, consent.TEXT_SHA256)
    assert record.replaces is None
    # Changed in the settings: a new record replacing the first, and back to the settings.
    answer = browser.post(
        "/consent",
        data={"choice": "chosen", "performance": "on", "from": "settings"},
        headers=SAME,
    )
    assert answer.headers["location"] == "/cookies/settings?saved=1"
    again = consent.parse_cookie(browser.cookies["callroster_consent"])
    assert again is not None and again.optional == {Category.PERFORMANCE}
    second = store.consent_records.get(again.record_id)
    assert second is not None and second.method == "settings"
    assert second.replaces == given.record_id
    first = store.consent_records.get(given.record_id)
    assert first is not None and first.ended_at is not None  # the old one survives, ended
    settings_page = browser.get("/cookies/settings?saved=1").text
    assert "Your choice is saved." in settings_page
    assert "you accepted performance cookies" in settings_page
    recorded = "Recorded on this page on 23 November 2026 at 09:00 UTC, as record <code>"
    assert f"{recorded}{again.record_id}</code>" in settings_page  # the store's clock
    assert 'id="settings-performance" name="performance" checked' in settings_page


VERSION = consent.POLICY_VERSION
OPERATOR_READ = operator_cli("consent tests")


def test_a_cookie_of_an_older_policy_asks_again(app: FastAPI, store: Store) -> None:
    browser = client(app)
    choose(browser, "all", **{"from": "banner"})
    old = consent.parse_cookie(browser.cookies["callroster_consent"])
    assert old is not None
    older = Consent(old.optional, "2025-03-13", old.method, old.record_id).cookie_value()
    browser.cookies.clear()
    browser.cookies.set("callroster_consent", older, domain="testserver.local")
    assert 'id="consent-banner"' in browser.get("/").text
    assert browser.get("/probe/sync").json() == {"optional": [], "ask": True}
    choose(browser, "none", **{"from": "banner"})
    new = consent.parse_cookie(browser.cookies["callroster_consent"])
    assert new is not None and new.version == VERSION
    record = store.consent_records.get(new.record_id)
    assert record is not None and record.replaces == old.record_id
    assert store.consent_records.get(old.record_id) is not None  # the old record stays


def test_sync_and_async_routes_see_the_requests_consent(app: FastAPI) -> None:
    browser = client(app)
    for probe in ("/probe/sync", "/probe/async"):
        assert browser.get(probe).json() == {"optional": [], "ask": True}
    choose(browser, "chosen", functionality="on")
    for probe in ("/probe/sync", "/probe/async"):
        assert browser.get(probe).json() == {"optional": ["functionality"], "ask": False}
    # And none outside a request.
    assert consent_state.current() is None


def test_a_refused_categorys_cookies_are_expired_and_never_set(app: FastAPI) -> None:
    browser = client(app)
    browser.cookies.set("callroster_region", "FR", domain="testserver.local", path="/")
    expired = browser.get("/privacy").headers.get_list("set-cookie")
    assert expired == ['callroster_region=""; Max-Age=0; Path=/c; Secure; HttpOnly; SameSite=Lax']
    # A route that sets one without asking: dropped, without consent.
    fresh = client(app)
    assert fresh.get("/probe/careless").headers.get_list("set-cookie") == []
    choose(fresh, "chosen", functionality="on")
    kept = fresh.get("/probe/careless").headers.get_list("set-cookie")
    assert (_cookie_of(kept, "callroster_region") or "").startswith("callroster_region=FR;")
    browser = fresh
    # Opting out removes it at once, with its own path, HttpOnly as it is.
    cookies = choose(browser, "none", **{"from": "settings"})
    assert 'callroster_region=""; Max-Age=0; Path=/c; Secure; HttpOnly; SameSite=Lax' in cookies


def test_consent_is_posted_only_from_this_site_small_and_not_too_often(
    app: FastAPI, store: Store
) -> None:
    browser = client(app)
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "null"},
        {"Origin": "https://evil.example"},
        {},
    ):
        answer = browser.post("/consent", data={"choice": "all"}, headers=headers)
        assert answer.status_code == 403, headers
        assert "callroster_consent" not in answer.headers.get("set-cookie", "")
    # An older browser without Sec-Fetch-Site: its Origin must be this site.
    ok = browser.post("/consent", data={"choice": "all"}, headers={"Origin": "https://testserver"})
    assert ok.status_code == 303
    big = browser.post("/consent", data={"choice": "all", "x": "a" * 5000}, headers=SAME)
    assert big.status_code == 413
    # Back to a local page only.
    for target, expected in (
        ("/c/abc?country=FR", "/c/abc?country=FR"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ):
        answer = browser.post("/consent", data={"choice": "none", "next": target}, headers=SAME)
        assert answer.headers["location"] == expected
    # Too often from one address: 429, nothing recorded.
    app.state.consent_window = SlidingWindow(0, 600)
    limited = browser.post("/consent", data={"choice": "all"}, headers=SAME)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # The store's own cap per network: 429 too.
    del app.state.consent_window
    store.consent_records.per_source_hour = 0
    capped = browser.post("/consent", data={"choice": "all"}, headers=SAME)
    assert capped.status_code == 429 and "set-cookie" not in capped.headers


@pytest.mark.parametrize(("header", "method"), [("Sec-GPC", "gpc"), ("DNT", "dnt")])
def test_a_privacy_signal_is_reject_all_recorded_once_and_said(
    app: FastAPI, store: Store, header: str, method: str
) -> None:
    # A client that navigates to no page (a crawler sending the signal, keeping no cookie):
    # the signal rules, and nothing is recorded request after request.
    crawler = client(app, **{header: "1"})
    for _ in range(3):
        crawled = crawler.get("/cookies")
        assert 'id="signal-honoured"' in crawled.text
        assert 'id="consent-banner"' not in crawled.text
        assert crawled.headers.get_list("set-cookie") == []
    browser = client(app, **{header: "1", "Sec-Fetch-Mode": "navigate"})
    first = browser.get("/cookies", headers={"Accept": "text/html"})
    assert 'id="consent-banner"' not in first.text
    assert 'id="signal-honoured"' in first.text
    name = consent.SIGNAL_NAMES[method]
    assert f"Your browser sends {name}. We have honoured it" in first.text
    given = consent.parse_cookie(browser.cookies["callroster_consent"])
    assert given is not None and given.method == method and given.optional == frozenset()
    record = store.consent_records.get(given.record_id)
    assert record is not None and record.method == method and record.optional == frozenset()
    # Once: the next pages set nothing more.
    for path in ("/", "/privacy", "/cookies/settings"):
        assert browser.get(path).headers.get_list("set-cookie") == []
    assert browser.get("/probe/sync").json() == {"optional": [], "ask": False}
    # The settings page says so and offers no choice; a post is sent back there.
    settings_page = browser.get("/cookies/settings").text
    assert 'id="signal-honoured"' in settings_page and 'name="choice"' not in settings_page
    posted = browser.post("/consent", data={"choice": "all"}, headers=SAME)
    assert posted.headers["location"] == "/cookies/settings"
    assert browser.cookies["callroster_consent"] == given.cookie_value()
    # A browser that accepted all before switching the signal on: reject all, recorded anew.
    earlier = client(app)
    choose(earlier, "all")
    accepted = consent.parse_cookie(earlier.cookies["callroster_consent"])
    assert accepted is not None
    earlier.headers[header] = "1"
    earlier.headers["Sec-Fetch-Mode"] = "navigate"
    assert earlier.get("/probe/sync").json() == {"optional": [], "ask": False}
    earlier.get("/")
    now = consent.parse_cookie(earlier.cookies["callroster_consent"])
    assert now is not None and now.optional == frozenset() and now.method == method
    new_record = store.consent_records.get(now.record_id)
    assert new_record is not None and new_record.replaces == accepted.record_id


@pytest.fixture
def link(store: Store, settings: Settings) -> str:
    details = demo.ensure_demo(store, settings)
    for number, label in PLAN.items():
        store.numbers.add(OPERATOR, number, label=label)
    return details.web_url.removeprefix(settings.web_base_url)


def _first_number(html: str) -> str:
    found = re.search(r'class="dial-in" href="tel:(\+\d+)"', html)
    assert found, html
    return found.group(1)


def test_the_region_is_remembered_only_with_functionality_consent(app: FastAPI, link: str) -> None:
    browser = client(app, **{"Accept-Language": "en-GB"})
    # Without consent: the choice holds for the page asked for, and nothing is kept.
    picked = browser.get(f"{link}?country=FR")
    assert _first_number(picked.text) == "+33142868200"
    assert picked.headers.get_list("set-cookie") == []
    assert _first_number(browser.get(link).text) == "+442079460000"
    # With functionality consent: kept for a year, under /c, and used on the next visit.
    choose(browser, "chosen", functionality="on")
    picked = browser.get(f"{link}/numbers?country=FR")
    region = _cookie_of(picked.headers.get_list("set-cookie"), "callroster_region")
    assert (
        region == "callroster_region=FR; HttpOnly; Max-Age=31536000; Path=/c; SameSite=lax; Secure"
    )
    assert _first_number(browser.get(link).text) == "+33142868200"
    # An unknown country is not kept.
    odd = browser.get(f"{link}?country=ZZ")
    assert _cookie_of(odd.headers.get_list("set-cookie"), "callroster_region") is None
    # Opting out removes it, and the choice is forgotten.
    choose(browser, "none")
    assert "callroster_region" not in browser.cookies
    assert _first_number(browser.get(link).text) == "+442079460000"


def _page_loads(app: FastAPI) -> float:
    text = app.state.metrics.exposition().decode()
    found = re.findall(r'^callroster_page_load_seconds_count\{page="([^"]+)"\} (\S+)$', text, re.M)
    return sum(float(count) for _, count in found)


def test_page_timing_only_with_performance_consent_and_bounded(app: FastAPI, link: str) -> None:
    browser = client(app)
    beacon = {"page": "/c/{link}", "seconds": 0.8}
    # Before consent: no script on the page, and a beacon sent anyway is ignored.
    assert "page_timing.js" not in browser.get(link).text
    ignored = browser.post(page_timing.PATH, json=beacon, headers=SAME)
    assert ignored.status_code == 204 and _page_loads(app) == 0
    choose(browser, "chosen", performance="on")
    html = browser.get(link).text
    assert '<script src="/static/page_timing.js" data-page="/c/{link}" defer>' in html
    assert link.rsplit("/", 1)[1] not in html.split("page_timing.js")[1].split(">")[0]
    counted = browser.post(page_timing.PATH, json=beacon, headers=SAME)
    assert counted.status_code == 204 and _page_loads(app) == 1
    exposition = app.state.metrics.exposition().decode()
    assert 'callroster_page_load_seconds_bucket{le="1.0",page="/c/{link}"} 1.0' in exposition
    # Bounded: only a page rendered with the script, a sane time, a small body, this site.
    for bad in (
        {"page": link, "seconds": 0.8},  # a raw path
        {"page": "/made/up", "seconds": 0.8},
        {"page": "/c/{link}", "seconds": -1},
        {"page": "/c/{link}", "seconds": 1e9},
        {"page": "/c/{link}", "seconds": True},
        {"page": "/c/{link}", "seconds": 0.8, "who": "me"},
        [1, 2],
    ):
        assert browser.post(page_timing.PATH, json=bad, headers=SAME).status_code == 422, bad
    too_big = browser.post(
        page_timing.PATH, content=b'{"page": "' + b"x" * 600 + b'"}', headers=SAME
    )
    assert too_big.status_code == 413
    cross = browser.post(page_timing.PATH, json=beacon, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    app.state.page_timing_window = SlidingWindow(0, 600)
    assert browser.post(page_timing.PATH, json=beacon, headers=SAME).status_code == 429
    assert _page_loads(app) == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", "/login"),
        (b"next=/admin", "/login?next=%2Fadmin"),
        (
            b"next=/admin/audit?page=2&country=fr",
            "/login?country=fr&next=%2Fadmin%2Faudit%3Fpage%3D2",
        ),
        (b"next=//evil.example/x", "/login"),
        (b"next=https://evil.example/", "/login"),
        (b"next=/\\evil.example", "/login"),
        (b"country=FR&utm_source=mail&name=%3Cscript%3E", "/login?country=FR"),
        (b"country=<b>", "/login"),
    ],
)
def test_the_banner_returns_to_the_page_keeping_only_a_country_and_a_local_next(
    query: bytes, expected: str
) -> None:
    assert back_to("/login", query) == expected


def test_the_settings_page_shows_its_own_browser_what_its_record_keeps(
    app: FastAPI, store: Store
) -> None:
    """The record's truncated address and user agent, decrypted for the browser whose cookie
    names the record, audit-logged by the record's id without what it holds; nobody else's
    page shows them, and a made-up record id shows nothing."""
    agent = "KeepsTestBrowser/2.0 (a-distinct-token-7f3a)"
    browser = client(app, **{"User-Agent": agent})
    choose(browser, "none", **{"from": "banner"})
    given = consent.parse_cookie(browser.cookies["callroster_consent"])
    assert given is not None
    record_id = given.record_id
    page = browser.get("/cookies/settings").text
    assert 'id="record-keeps"' in page
    assert f"<code>{agent}</code>" in page
    network = store.consent_records.shown_to_its_browser(OPERATOR_READ, record_id)
    assert network is not None and f"<code>{network.ip_truncated}</code>" in page
    read = [e for e in store.audit.entries(None, 50) if e.action == "consent_record.read"]
    read = [e for e in read if e.actor.startswith("guest:consent:")]
    assert [e.subject for e in read] == [f"consent_record:{record_id}"]  # the page's one read
    assert agent not in repr([vars(e) for e in read])

    stranger = client(app, **{"User-Agent": "Stranger/1.0"})
    assert agent not in stranger.get("/cookies/settings").text
    forged = f"v1.{VERSION}.-.b.{'0' * 8}-0000-4000-8000-{'0' * 12}"
    stranger.cookies.set("callroster_consent", forged)
    shown = stranger.get("/cookies/settings").text
    assert 'id="record-keeps"' not in shown and agent not in shown


def test_reloading_the_settings_page_cannot_make_unbounded_reads_of_the_record(
    app: FastAPI, store: Store
) -> None:
    """Each sight of what a record keeps is a decryption and an audit entry: an address gets
    RECORD_VIEWS_PER_SOURCE of them a window; past it the page still shows the choice and
    its record, without what the record keeps, and writes nothing to the audit log."""
    agent = "ReloadingBrowser/3.0 (token-c41e)"
    browser = client(app, **{"User-Agent": agent})
    choose(browser, "none", **{"from": "banner"})

    def reads() -> int:
        entries = store.audit.entries(None, 500)
        return sum(1 for e in entries if e.action == "consent_record.read")

    for _ in range(web_consent.RECORD_VIEWS_PER_SOURCE):
        assert agent in browser.get("/cookies/settings").text
    assert reads() == web_consent.RECORD_VIEWS_PER_SOURCE
    for _ in range(20):  # the abuse: 20 more reloads
        page = browser.get("/cookies/settings").text
        assert 'id="recorded"' in page and 'id="record-keeps-later"' in page
        assert agent not in page
    assert reads() == web_consent.RECORD_VIEWS_PER_SOURCE
