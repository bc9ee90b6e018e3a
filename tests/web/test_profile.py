"""``/me``: a host creates, renames and deletes their conferences with plain forms; a delegate
creates one for the host who authorised them; refusals are one clear message on the page.
In-process, the real app over https://testserver."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.store.legs import add_leg
from tests.web.test_signin import (
    HOST_EMAIL,
    OPERATOR,
    PASSWORD,
    Firm,
    browser,
    csrf_of,
    sign_in,
    signin_app,
)

from callroster.accounts.actor import Role
from callroster.config import Settings
from callroster.store.store import Store


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def _host(app: FastAPI) -> TestClient:
    client = browser(app)
    sign_in(client, HOST_EMAIL, PASSWORD)
    return client


def _titles(page: str) -> list[str]:
    return [
        html.unescape(t)
        for t in re.findall(r'<article class="conference" aria-label="([^"]*)"', page)
    ]


def test_a_host_creates_renames_and_deletes_a_conference(
    app: FastAPI, firm: Firm, store: Store
) -> None:
    client = _host(app)
    me = client.get("/me")
    assert "You have no conference yet." in me.text and _titles(me.text) == []
    made = client.post("/me/conferences", data={"csrf_token": csrf_of(me), "title": "Q3 review"})
    assert made.status_code == 303 and made.headers["location"] == "/me?done=conference-created"
    page = client.get(made.headers["location"])
    assert "Conference created" in page.text and _titles(page.text) == ["Q3 review"]
    [conference_id] = store.conferences.conferences_of_host(firm.host_id)
    view = store.conferences.get_conference(OPERATOR, conference_id)
    assert view.pin in page.text and view.web_link in page.text
    csrf = csrf_of(page)

    empty = client.post("/me/conferences", data={"csrf_token": csrf, "title": "  "})
    assert empty.status_code == 400
    assert "A conference&#x27;s name is 1 to 120 characters." in empty.text
    assert 'id="new-title"' in empty.text and 'aria-invalid="true"' in empty.text

    renamed = client.post(
        f"/me/conferences/{conference_id}/rename", data={"csrf_token": csrf, "title": "Q4"}
    )
    assert renamed.headers["location"] == "/me?done=conference-renamed"
    assert _titles(client.get("/me").text) == ["Q4"]

    leg = add_leg(store, conference_id)
    store.conferences.set_leg_status(OPERATOR, leg, "connected")
    unconfirmed = client.post(f"/me/conferences/{conference_id}/delete", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 400 and "Tick the box to confirm" in unconfirmed.text
    busy = client.post(
        f"/me/conferences/{conference_id}/delete", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert busy.status_code == 400
    assert "this conference is in progress: it can be deleted once everyone has left" in busy.text
    store.conferences.set_leg_status(OPERATOR, leg, "left", left=True)
    deleted = client.post(
        f"/me/conferences/{conference_id}/delete", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert deleted.headers["location"] == "/me?done=conference-deleted"
    assert _titles(client.get("/me").text) == []
    assert store.conferences.open_with_pin(view.pin) is None


def test_a_delegate_creates_a_conference_for_their_host(
    app: FastAPI, firm: Firm, store: Store
) -> None:
    email = "dee@firm.example"
    delegate = store.accounts.create_user(
        OPERATOR, firm.account_id, Role.DELEGATE, "Dee Legate", email=email, password=PASSWORD
    )
    client = browser(app)
    sign_in(client, email, PASSWORD)
    assert 'action="/me/conferences"' not in client.get("/me").text  # no host yet
    store.accounts.delegate(OPERATOR, firm.host_id, delegate)
    me = client.get("/me")
    assert '<option value="' + firm.host_id + '">Hana Host</option>' in me.text
    made = client.post(
        "/me/conferences",
        data={"csrf_token": csrf_of(me), "title": "Hana's board", "host_id": firm.host_id},
    )
    assert made.status_code == 303, made.text
    [conference_id] = store.conferences.conferences_of_host(firm.host_id)
    assert store.conferences.get_conference(OPERATOR, conference_id).title == "Hana's board"
