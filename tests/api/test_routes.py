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


# -- creating, renaming and deleting conferences (issue 13) --------------------------------
def test_a_host_creates_renames_and_deletes_a_conference(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    host = _bearer(details.host_token)
    created = client.post("/api/v1/conferences", json={"title": "Weekly sync"}, headers=host)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["title"] == "Weekly sync" and body["dial_in_numbers"] == ["2000"]
    assert len(body["pin"]) == 8 and len(body["host_pin"]) == 10 and body["web_url"]
    url = f"/api/v1/conferences/{body['id']}"
    renamed = client.patch(url, json={"title": "Monday sync"}, headers=host)
    assert renamed.status_code == 200 and renamed.json()["title"] == "Monday sync"
    refused = client.patch(url, json={"title": "   "}, headers=host)
    assert refused.status_code == 422
    assert refused.json()["detail"] == "a conference's name is 1 to 120 characters"
    assert client.get(url, headers=host).json()["title"] == "Monday sync"
    assert client.delete(url, headers=host).status_code == 204
    assert client.get(url, headers=host).status_code == 404
    assert store.conferences.open_with_pin(body["pin"]) is None
    actions = [e.action for e in store.audit.entries(details.account_id, 100)]
    assert {"conference.create", "conference.rename", "conference.delete"} <= set(actions)


def test_a_conference_in_progress_is_not_deleted(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    leg = store.conferences.add_leg(
        OPERATOR,
        details.conference_id,
        joined_via="dial_in",
        name=None,
        name_source=None,
        number=None,
        withheld=True,
        status="connected",
    )
    url = f"/api/v1/conferences/{details.conference_id}"
    refused = client.delete(url, headers=_bearer(details.host_token))
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "this conference is in progress: it can be deleted once everyone has left"
    )
    assert client.get(url, headers=_bearer(details.host_token)).status_code == 200
    store.conferences.set_leg_status(OPERATOR, leg, "left", left=True)
    assert client.delete(url, headers=_bearer(details.host_token)).status_code == 204


def test_a_delegate_creates_for_their_host_and_an_administrator_for_any_host(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    host_id = store.conferences.get_conference(OPERATOR, details.conference_id).host_id
    delegate = store.accounts.create_user(OPERATOR, details.account_id, Role.DELEGATE, "Del")
    token = store.tokens.issue(
        OPERATOR, details.account_id, delegate, {"roster:read", "legs:control"}, "delegate"
    )
    refused = client.post("/api/v1/conferences", json={"title": "X"}, headers=_bearer(token))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "a delegate creates conferences for a host who authorised them"
    )
    store.accounts.delegate(OPERATOR, host_id, delegate)
    made = client.post("/api/v1/conferences", json={"title": "For H"}, headers=_bearer(token))
    assert made.status_code == 201
    assert made.json()["host_pin"] is None  # a delegate never reads the host PIN
    assert len(store.conferences.conferences_of_host(host_id)) == 2
    admin = _bearer(details.admin_token)
    for_host = client.post(
        "/api/v1/conferences", json={"title": "Board", "host_id": host_id}, headers=admin
    )
    assert for_host.status_code == 201
    not_a_host = client.post(
        "/api/v1/conferences", json={"title": "Board", "host_id": delegate}, headers=admin
    )
    assert (not_a_host.status_code, not_a_host.json()["detail"]) == (422, "that user is not a host")
    assert len(store.conferences.conferences_of_host(host_id)) == 3


def test_an_administrator_adding_a_host_gives_them_a_conference(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    admin = _bearer(details.admin_token)
    added = client.post(
        "/api/v1/account/users", json={"role": "host", "name": "Nia Host"}, headers=admin
    )
    assert added.status_code == 201, added.text
    listed = client.get(f"/api/v1/account/users/{added.json()['id']}/conferences", headers=admin)
    [conference] = listed.json()
    assert conference["title"] == "Nia Host's conference" and len(conference["pin"]) == 8
