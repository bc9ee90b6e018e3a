"""API v1 against the real app in-process: who may see what."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from callroster.accounts import demo
from callroster.accounts.actor import Role, operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.store import Store

OPERATOR = operator_cli("test")


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_anonymous_and_forged_tokens_get_401(client: TestClient) -> None:
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers=_bearer("cr_forged")).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_host_sees_self_and_own_conference(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    me = client.get("/api/v1/me", headers=_bearer(details.host_token)).json()
    assert (me["name"], me["role"]) == ("Harriet Host", "host")
    conference = client.get(
        f"/api/v1/conferences/{details.conference_id}", headers=_bearer(details.host_token)
    )
    assert conference.status_code == 200
    body = conference.json()
    assert body["pin"] == details.pin and body["dial_in_uris"] == [details.dial_in_uri]
    audit = store.audit.entries(details.account_id, limit=1)[0]
    assert (audit.action, audit.reason) == (
        "conference.read",
        f"GET /api/v1/conferences/{details.conference_id}",
    )


def test_other_hosts_and_other_accounts(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    url = f"/api/v1/conferences/{details.conference_id}"
    # An administrator of the same account may see it.
    assert client.get(url, headers=_bearer(details.admin_token)).status_code == 200
    # Another host of the same account may not.
    colleague = store.accounts.create_user(OPERATOR, details.account_id, Role.HOST, "Col League")
    token = store.tokens.issue(OPERATOR, details.account_id, colleague, {"roster:read"}, "t")
    assert client.get(url, headers=_bearer(token)).status_code == 403
    # A delegate the host authorised may.
    delegate = store.accounts.create_user(OPERATOR, details.account_id, Role.DELEGATE, "Del")
    host_id = store.conferences.get_conference(OPERATOR, details.conference_id).host_id
    store.accounts.delegate(OPERATOR, host_id, delegate)
    token = store.tokens.issue(OPERATOR, details.account_id, delegate, {"roster:read"}, "t")
    assert client.get(url, headers=_bearer(token)).status_code == 200
    # Another account's host does not learn the conference exists.
    other = store.accounts.create_account(OPERATOR, "Elsewhere Ltd", "sydney")
    outsider = store.accounts.create_user(OPERATOR, other, Role.HOST, "Out Sider")
    token = store.tokens.issue(OPERATOR, other, outsider, {"roster:read"}, "t")
    assert client.get(url, headers=_bearer(token)).status_code == 404
    assert client.get("/api/v1/conferences/nope", headers=_bearer(token)).status_code == 404


def test_revoked_token_stops_working(client: TestClient, store: Store, settings: Settings) -> None:
    details = demo.ensure_demo(store, settings)
    principal = store.tokens.authenticate(details.host_token)
    assert principal is not None
    store.tokens.revoke(OPERATOR, principal.token_id)
    assert client.get("/api/v1/me", headers=_bearer(details.host_token)).status_code == 401


def test_openapi_is_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/me" in paths and "/api/v1/conferences/{conference_id}" in paths
