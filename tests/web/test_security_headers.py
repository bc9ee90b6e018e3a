"""Every page carries the headers of ``web/security_headers.py`` (issue 12, finding 10): a
policy that allows this site's own scripts and styles and no framing, no referrer, no caching,
the microphone for this site only. In-process, the real app over https://testserver; that the
pages still work under the policy, and that a framed page refuses to render, is shown by
chromium in tests/browser/."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import FakeClock
from tests.web.test_portal_crm import _signed_in_administrator
from tests.web.test_signin import Firm, browser, signin_app

from callroster.accounts import demo
from callroster.config import Settings
from callroster.store.store import Store
from callroster.web.security_headers import PAGE_POLICY

INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def _assert_page_headers(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    headers = answer.headers
    policy = dict(
        (part.strip().split(" ", 1) + [""])[:2]
        for part in headers["content-security-policy"].split(";")
    )
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'none'"
    assert headers["x-frame-options"] == "DENY"
    # Same origin: never to another site, and a form sends its Origin (web/consent.py).
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == "no-store"
    assert "microphone=(self)" in headers["permissions-policy"]
    assert "camera=()" in headers["permissions-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    # The policy forbids inline script and style, so a page with any would break.
    assert INLINE.search(answer.text) is None, INLINE.search(answer.text)


def test_the_inline_check_finds_inline_script_and_style() -> None:
    # A positive control for the check above: each of these would be blocked by the policy.
    for html in (
        "<script>alert(1)</script>",
        "<style>p{}</style>",
        '<p style="color:red">',
        '<button onclick="x()">',
    ):
        assert INLINE.search(html), html
    assert INLINE.search('<script src="/static/join.js" defer></script>') is None


def test_the_conference_page_has_the_headers(
    store: Store, settings: Settings, app: FastAPI
) -> None:
    details = demo.ensure_demo(store, settings)
    client = browser(app)
    page = client.get(details.web_url.removeprefix(settings.web_base_url))
    assert details.pin in page.text  # the page with the PIN on it
    _assert_page_headers(page)
    # Its stylesheet is a file now, served from this site.
    assert client.get("/static/app.css").status_code == 200


def test_sign_in_and_portal_pages_have_the_headers(
    app: FastAPI, firm: Firm, clock: FakeClock
) -> None:
    _assert_page_headers(browser(app).get("/login"))
    client = _signed_in_administrator(app, clock)
    for path in ("/admin", "/me", "/admin/audit", f"/admin/users/{firm.host_id}"):
        _assert_page_headers(client.get(path))


def test_redirects_and_json_have_the_referrer_policy_but_no_page_policy(app: FastAPI) -> None:
    client = browser(app)
    redirect = client.get("/admin")
    assert redirect.status_code == 303
    assert redirect.headers["referrer-policy"] == "same-origin"
    health = client.get("/healthz")
    assert health.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in health.headers


@pytest.mark.parametrize(
    "path", ["/setup/not-a-real-token", "/unsubscribe/not-a-real-token", "/privacy/export/x"]
)
def test_a_page_whose_url_holds_a_one_time_secret_sends_no_referrer_at_all(
    app: FastAPI, path: str
) -> None:
    answer = browser(app).get(path)
    assert answer.status_code < 500
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_the_api_documentation_still_refuses_framing(app: FastAPI) -> None:
    docs = browser(app).get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] != PAGE_POLICY  # its script is inline
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert docs.headers["x-frame-options"] == "DENY"
