"""The cookie page (``web/cookies.py``), in-process over https://testserver: public, in the
site's layout and linked from every page's footer beside "Privacy"; its table is the
declaration (``COOKIES``), row for row and word for word; and the declaration's lifetimes are
the code's own (a device cookie the sign-in really sets lasts what the declaration says)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi import FastAPI
from tests.web.test_signin import browser, signin_app

from callroster.accounts import session_policy
from callroster.config import Settings
from callroster.store.store import Store
from callroster.web import cookies
from callroster.web.cookies import COOKIES, Category

HTML = {"Accept": "text/html"}


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def _table(html: str) -> list[tuple[str, ...]]:
    table = html.split('id="cookies"', 1)[1].split("</table>", 1)[0]
    found = []
    for row in re.findall(r"<tr data-name=.*?</tr>", table, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        found.append(tuple(unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells))
    return found


def test_the_page_is_public_in_the_layout_and_linked_from_every_footer(app: FastAPI) -> None:
    answer = browser(app).get("/cookies", headers=HTML)
    assert answer.status_code == 200
    assert "<h1>Cookies</h1>" in answer.text and '<header class="site">' in answer.text
    assert '<a href="/cookies" aria-current="page">Cookies</a>' in answer.text
    for path in ("/", "/login", "/privacy/request"):
        footer = browser(app).get(path, headers=HTML).text.split('<footer class="site">')[1]
        assert '<a href="/privacy">Privacy</a></li>\n<li><a href="/cookies">Cookies</a>' in footer
        assert '<a href="/cookies/settings">Cookie settings</a>' in footer


def test_the_table_is_the_declaration(app: FastAPI) -> None:
    html = browser(app).get("/cookies", headers=HTML).text
    assert _table(html) == cookies.rows()
    assert [row[0] for row in _table(html)] == [c.name for c in COOKIES]
    # Strictly necessary cookies and one functionality cookie (the region choice); the page
    # says which categories are unused (performance is measured with no cookie at all).
    assert {c.category for c in COOKIES} == {Category.STRICTLY_NECESSARY, Category.FUNCTIONALITY}
    assert "sets no performance, no targeting or advertising cookies" in unescape(html)


def test_the_declared_lifetimes_are_the_codes_own() -> None:
    by_name = cookies.BY_NAME
    assert by_name["callroster_device"].longest == session_policy.DEVICE_LIFETIME
    assert by_name["callroster_device"].lasts == "30 days"
    assert by_name["callroster_session"].longest == session_policy.STAY_SIGNED_IN_LIFETIME
    assert by_name["callroster_session"].lasts.endswith("1 day")


def test_audit_catches_undeclared_long_lived_and_wrong_attributes() -> None:
    now = 1_000_000.0
    good = {
        "name": "callroster_device",
        "expires": now + session_policy.DEVICE_LIFETIME.total_seconds(),
        "path": "/login",
        "sameSite": "Strict",
        "httpOnly": True,
        "secure": True,
    }
    assert cookies.audit([good], now) == []
    assert cookies.audit([good | {"name": "_ga"}], now) == ["_ga: not declared"]
    assert cookies.audit([good | {"expires": now + 31 * 86400}], now)
    assert cookies.audit([good | {"httpOnly": False}], now)
    session = good | {"name": "callroster_signin", "path": "/login", "sameSite": "Lax"}
    assert cookies.audit([session | {"expires": -1}], now) == []
    assert cookies.audit([session], now) == [
        "callroster_signin: persistent, declared for the browser session only"
    ]
