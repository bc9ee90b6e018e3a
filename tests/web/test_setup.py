"""The first administrator's set-up page in-process: the link opens a password form, a
refused password keeps the link live, the right one opens a session that still waits for the
second factor and sends them to enrol it; then the link is dead."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import FakeClock

from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.onboarding import AccountAction, CreatedAccount
from callroster.store.store import Store

OPERATOR = operator_cli("test")
EMAIL = "ada.admin@meitner.example"
PASSWORD = "Plover-Quartz-Ribbon-71"


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return create_app(store, settings)


@pytest.fixture
def created(store: Store) -> CreatedAccount:
    return store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_choosing_a_password_leads_to_the_second_factor(
    app: FastAPI, store: Store, created: CreatedAccount
) -> None:
    client = browser(app)
    url = f"/setup/{created.setup_token}"
    page = client.get(url)
    assert page.status_code == 200 and "Choose the password" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    csrf = csrf_of(page)
    form = {"csrf_token": csrf, "password": "short", "password_again": "short"}
    short = client.post(url, data=form)
    assert short.status_code == 422 and "A password is 12 to 1024 characters." in short.text
    differ = client.post(url, data={**form, "password": PASSWORD, "password_again": "x" + PASSWORD})
    assert differ.status_code == 422 and "The two passwords are not the same." in differ.text
    assert (
        client.post(url, data={"password": PASSWORD, "password_again": PASSWORD}).status_code == 403
    )
    assert not store.accounts.check_sign_in(EMAIL, PASSWORD).password_ok  # nothing set yet

    done = client.post(url, data={**form, "password": PASSWORD, "password_again": PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/account/second-factor"
    assert store.accounts.check_sign_in(EMAIL, PASSWORD).password_ok
    enrol = client.get("/account/second-factor")
    assert enrol.status_code == 200 and "Set up your second factor" in enrol.text
    # Not yet a complete session: the API does not take it.
    assert client.get("/api/v1/session").status_code == 401

    dead = browser(app).get(url)
    assert dead.status_code == 404 and "already used" in dead.text


def test_an_expired_or_suspended_link_says_so(
    app: FastAPI, store: Store, created: CreatedAccount, clock: FakeClock
) -> None:
    client = browser(app)
    url = f"/setup/{created.setup_token}"
    assert client.get(url).status_code == 200  # positive control
    clock.advance(hours=72)
    expired = client.get(url)
    assert expired.status_code == 404 and "has expired" in expired.text
    fresh = store.onboarding.new_setup_link(OPERATOR, created.account_id)
    store.onboarding.change_status(OPERATOR, created.account_id, AccountAction.SUSPEND)
    assert client.get(f"/setup/{fresh.setup_token}").status_code == 404
    assert client.get("/setup/crsetup_guess").status_code == 404
