"""The way in (``web/home.py``): the home page, joining by room link or PIN (a PIN is never
looked up), ``/live``, and the HTML 404 page browsers get while API clients keep JSON. The
real app, in-process, over https://testserver."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from tests.conftest import FakeClock
from tests.web.test_portal_crm import _signed_in_administrator
from tests.web.test_signin import Firm, browser, signin_app

from callroster.accounts import demo
from callroster.config import Settings
from callroster.store.store import Store
from callroster.web.home import room_link

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def test_home_page_offers_joining_and_signing_in(app: FastAPI) -> None:
    page = browser(app).get("/", headers=HTML)
    assert page.status_code == 200
    assert "<h1>Join a meeting</h1>" in page.text
    assert 'action="/join"' in page.text and 'href="/login"' in page.text
    assert '<header class="site">' in page.text  # the shared layout
    assert 'href="/static/app.css"' in page.text


def test_a_room_link_in_any_form_takes_you_to_its_page(
    store: Store, settings: Settings, app: FastAPI
) -> None:
    details = demo.ensure_demo(store, settings)
    link = details.web_url.rsplit("/c/", 1)[1]
    for typed in (details.web_url, f"  /c/{link}/ ", link):
        assert room_link(typed) == link, typed
        answer = browser(app).post("/join", data={"room": typed})
        assert answer.status_code == 303 and answer.headers["location"] == f"/c/{link}"
    assert browser(app).get(f"/c/{link}", headers=HTML).status_code == 200


def test_a_pin_gets_how_to_dial_in_and_is_never_looked_up(
    store: Store, settings: Settings, app: FastAPI
) -> None:
    details = demo.ensure_demo(store, settings)
    right = browser(app).post("/join", data={"room": details.pin + "#"})
    wrong = browser(app).post("/join", data={"room": "99999999"})
    assert right.status_code == wrong.status_code == 200
    assert f"sip:{details.pin}@{settings.sip_hostport}" in right.text
    # The same page for a PIN that opens a conference and one that opens none: no oracle.
    assert right.text.replace(details.pin, "X") == wrong.text.replace("99999999", "X")
    assert details.web_url not in right.text


def test_neither_a_link_nor_a_pin_is_said_at_the_field(app: FastAPI) -> None:
    answer = browser(app).post("/join", data={"room": "not a link!"})
    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.text
    assert "neither a room link nor a PIN" in answer.text
    empty = browser(app).post("/join", data={"room": ""})
    assert empty.status_code == 400 and "Paste the room link" in empty.text


def test_browsers_get_a_page_for_404_and_api_clients_json(app: FastAPI) -> None:
    client = browser(app)
    room = client.get("/c/no-such-link-at-all", headers=HTML)
    assert room.status_code == 404
    assert room.headers["content-type"].startswith("text/html")
    assert "No meeting at this link" in room.text and '<header class="site">' in room.text
    unknown = client.get("/nowhere", headers=HTML)
    assert unknown.status_code == 404 and "Page not found" in unknown.text
    # Without Accept: text/html, or under /api/, the JSON answer as before.
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    assert client.get("/c/no-such-link-at-all").json() == {"detail": "no conference at this link"}
    api = client.get("/api/v1/nowhere", headers=HTML)
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_navigation_follows_the_role(app: FastAPI, firm: Firm, clock: FakeClock) -> None:
    anonymous = browser(app).get("/", headers=HTML).text
    assert 'href="/admin"' not in anonymous and 'href="/me"' not in anonymous
    admin = _signed_in_administrator(app, clock)
    page = admin.get("/me", headers=HTML).text
    for href in ("/me", "/live", "/admin"):
        assert f'href="{href}"' in page, href
    assert 'id="sign-out"' in page
    assert admin.get("/", headers=HTML).text.count('href="/admin"') == 1


def test_live_goes_straight_to_the_only_conference(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    admin = _signed_in_administrator(app, clock)
    listed = admin.get("/live")
    assert listed.status_code == 200 and 'id="live-none"' in listed.text  # runs none yet
    assert browser(app).get("/live").status_code == 303  # signed out: to sign in
