"""The operator's pages against the real app in-process (https://testserver, so Secure
cookies are kept): sign-in by pasting an operator token, the session cookie's flags, its idle
limit on a moved clock, revocation, CSRF on every form, creating an account (the set-up link
shown once), and suspend, resume and terminate (after a confirmation)."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import FakeClock

from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.onboarding import AccountStatus
from callroster.store.store import Store

OPERATOR = operator_cli("test")
EMAIL = "ada.admin@meitner.example"


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return create_app(store, settings)


@pytest.fixture
def token(store: Store) -> str:
    return store.operator_tokens.issue(OPERATOR, "web")[1]


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def sign_in(client: TestClient, token: str) -> httpx.Response:
    page = client.get("/operator/login")
    assert page.status_code == 200
    return client.post("/operator/login", data={"csrf_token": csrf_of(page), "token": token})


def test_sign_in_sets_a_strict_session_cookie_and_never_the_token(app: FastAPI, token: str) -> None:
    client = browser(app)
    assert client.get("/operator").headers["location"] == "/operator/login"
    signed_in = sign_in(client, token)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/operator"
    header = next(
        h for h in signed_in.headers.get_list("set-cookie") if h.startswith("callroster_operator=")
    )
    cookie = SimpleCookie()
    cookie.load(header)
    morsel = cookie["callroster_operator"]
    assert morsel.value.startswith("cros_") and token not in header
    assert morsel["httponly"] and morsel["secure"]
    assert morsel["samesite"] == "strict" and morsel["path"] == "/operator"
    assert not morsel["max-age"]  # gone when the browser closes
    home = client.get("/operator")
    assert home.status_code == 200 and "No customer accounts yet." in home.text


def test_a_wrong_token_a_user_key_and_a_missing_csrf_token_are_refused(
    app: FastAPI, store: Store, token: str
) -> None:
    client = browser(app)
    wrong = sign_in(client, "cro_" + "x" * 43)
    assert wrong.status_code == 401 and "That is not a live operator token." in wrong.text
    assert "callroster_operator=" not in str(wrong.headers)
    no_csrf = client.post("/operator/login", data={"token": token})
    assert no_csrf.status_code == 403
    assert sign_in(client, token).status_code == 303  # positive control
    create = {"name": "Meitner & Hahn", "region": "london", "admin_email": EMAIL}
    assert client.post("/operator/accounts", data=create).status_code == 403
    assert store.onboarding.list_accounts(OPERATOR) == []


def test_idle_limit_and_revocation_end_the_session(
    app: FastAPI, store: Store, token: str, clock: FakeClock
) -> None:
    client = browser(app)
    sign_in(client, token)
    clock.advance(minutes=14)
    assert client.get("/operator").status_code == 200
    clock.advance(minutes=15)
    assert client.get("/operator").headers["location"] == "/operator/login"
    sign_in(client, token)
    assert client.get("/operator").status_code == 200
    token_id = store.operator_tokens.list(OPERATOR)[0].id
    store.operator_tokens.revoke(OPERATOR, token_id)
    assert client.get("/operator").headers["location"] == "/operator/login"


def test_create_shows_the_link_once_then_suspend_resume_and_terminate(
    app: FastAPI, store: Store, settings: Settings, token: str
) -> None:
    client = browser(app)
    sign_in(client, token)
    home = client.get("/operator")
    csrf = csrf_of(home)
    create = {"csrf_token": csrf, "name": "Meitner & Hahn", "region": "london"}
    refused = client.post("/operator/accounts", data={**create, "admin_email": "nobody"})
    assert refused.status_code == 422
    assert "The administrator&#x27;s email is not an email address." in refused.text
    assert 'value="Meitner &amp; Hahn"' in refused.text  # what was typed is kept
    created = client.post("/operator/accounts", data={**create, "admin_email": EMAIL})
    assert created.status_code == 200
    link = re.search(r'<code id="setup-link">([^<]+)</code>', created.text)
    assert link and link.group(1).startswith(f"{settings.web_base_url}/setup/crsetup_")
    listed = client.get("/operator")
    assert "Meitner &amp; Hahn" in listed.text and "crsetup_" not in listed.text
    assert EMAIL not in listed.text
    duplicate = client.post("/operator/accounts", data={**create, "admin_email": "b@x.example"})
    assert duplicate.status_code == 409
    assert "An account with this name already exists." in duplicate.text

    account = store.onboarding.list_accounts(OPERATOR)[0].id
    base = f"/operator/accounts/{account}"
    renewed = client.post(f"{base}/setup-link", data={"csrf_token": csrf})
    assert "the old one no longer works" in renewed.text
    new_link = re.search(r'<code id="setup-link">[^<]+/([^/<]+)</code>', renewed.text)
    assert new_link and store.onboarding.setup_target(new_link.group(1)).account_id == account
    assert client.post(f"{base}/suspend", data={}).status_code == 403  # no CSRF token
    done = client.post(f"{base}/suspend", data={"csrf_token": csrf})
    assert done.headers["location"] == "/operator?done=suspend"
    assert "Account suspended." in client.get(done.headers["location"]).text
    assert store.onboarding.status(account) == AccountStatus.SUSPENDED
    client.post(f"{base}/resume", data={"csrf_token": csrf})
    assert store.onboarding.status(account) == AccountStatus.ACTIVE

    confirm = client.get(f"{base}/terminate")
    assert "This cannot be undone." in confirm.text
    assert store.onboarding.status(account) == AccountStatus.ACTIVE  # asking changes nothing
    client.post(f"{base}/terminate", data={"csrf_token": csrf_of(confirm)})
    assert store.onboarding.status(account) == AccountStatus.TERMINATED
    again = client.post(f"{base}/resume", data={"csrf_token": csrf})
    assert again.status_code == 409 and "so it cannot be resumed" in again.text


def test_sign_out(app: FastAPI, token: str) -> None:
    client = browser(app)
    sign_in(client, token)
    csrf = csrf_of(client.get("/operator"))
    out = client.post("/operator/logout", data={"csrf_token": csrf})
    assert out.headers["location"] == "/operator/login"
    assert client.get("/operator").headers["location"] == "/operator/login"
