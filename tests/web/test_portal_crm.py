"""The administrator's portal sets the CRM webhook through the API's own function, so the
same destination rule holds there: a loopback, link-local or private URL is refused with the
reason on the page and nothing is stored; a public address is saved and its secret shown
once. In-process (httpx over https://testserver, the real app); addresses only, so no name
is ever looked up."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import FakeClock
from tests.web.test_signin import (
    ADMIN_EMAIL,
    PASSWORD,
    Firm,
    browser,
    csrf_of,
    sign_in,
    signin_app,
)

from callroster.accounts import totp
from callroster.accounts.actor import system
from callroster.config import Settings
from callroster.store.store import Store

TOKEN = "crmtok-91d0e4c2b7"


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def _signed_in_administrator(app: FastAPI, clock: FakeClock) -> TestClient:
    """An administrator past sign-in and second-factor enrolment."""
    client = browser(app)
    sign_in(client, ADMIN_EMAIL, PASSWORD)
    page = client.get("/account/second-factor")
    secret = re.search(r"secret=([A-Z2-7]+)", page.text)
    assert secret is not None
    code = totp.code_at(secret.group(1), clock.now)
    enrolled = client.post(
        "/account/second-factor", data={"csrf_token": csrf_of(page), "code": code}
    )
    assert enrolled.status_code == 200
    return client


def test_the_portal_refuses_what_the_api_refuses(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    client = _signed_in_administrator(app, clock)
    for url, why in [
        (f"http://127.0.0.1:8080/{TOKEN}", "is a loopback address"),
        (f"https://169.254.169.254/latest/{TOKEN}", "is a link-local address"),
        (f"https://0x7f000001/{TOKEN}", "written in a non-standard form"),
        (f"https://10.0.0.1/{TOKEN}", "is a private address"),
    ]:
        csrf = csrf_of(client.get("/admin"))
        answer = client.post("/admin/crm-webhook", data={"csrf_token": csrf, "url": url})
        assert answer.status_code == 400, answer.text
        error = re.search(r'id="message">([^<]*)</p>', answer.text)
        assert error is not None, answer.text
        assert why in html.unescape(error.group(1)) and TOKEN not in answer.text
    assert store.accounts.crm_webhook(system("test"), firm.account_id) is None

    public = f"https://93.184.216.34/hooks/{TOKEN}"  # only validated: nothing connects
    csrf = csrf_of(client.get("/admin"))
    saved = client.post("/admin/crm-webhook", data={"csrf_token": csrf, "url": public})
    assert saved.status_code == 200 and 'id="crm-secret"' in saved.text
    target = store.accounts.crm_webhook(system("test"), firm.account_id)
    assert target is not None and target.url == public
