"""The account's API keys and audit log through the API, on both stores: a key is shown once,
kept only as a hash, listed with when it was last used, limited to its scopes and dead once
revoked; administrators read their own account's audit log, operators everyone's."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callroster.accounts import demo
from callroster.accounts.actor import Role, operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.models import ApiToken
from callroster.store.store import Store

OPERATOR = operator_cli("test")
KEYS = "/api/v1/account/api-keys"
AUDIT = "/api/v1/account/audit"


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


@pytest.fixture
def details(store: Store, settings: Settings) -> demo.DemoDetails:
    return demo.ensure_demo(store, settings)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_key_is_shown_once_stored_hashed_scoped_and_revocable(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    made = client.post(KEYS, headers=admin, json={"label": "wallboard", "scopes": ["roster:read"]})
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    key, key_id = made.json()["key"], made.json()["id"]
    assert key.startswith("cr_") and made.json()["scopes"] == ["roster:read"]

    # Only its SHA-256 is in the database.
    with store.sessions() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.id == key_id))
        assert row is not None and row.token_hash == hashlib.sha256(key.encode()).digest()
        assert key.encode() not in repr(row.__dict__).encode()

    [listed] = [k for k in client.get(KEYS, headers=admin).json() if k["id"] == key_id]
    assert listed["last_used_at"] is None and listed["user_id"] is None
    assert "key" not in listed and key not in client.get(KEYS, headers=admin).text

    # It reads the account's conferences, controls none, and administers nothing.
    legs = f"/api/v1/conferences/{details.conference_id}"
    assert client.get(legs, headers=_bearer(key)).status_code == 200
    locked = client.post(f"/api/v1/conferences/{details.conference_id}/lock", headers=_bearer(key))
    assert locked.status_code == 403 and "legs:control" in locked.json()["detail"]
    assert client.get(KEYS, headers=_bearer(key)).status_code == 403
    [listed] = [k for k in client.get(KEYS, headers=admin).json() if k["id"] == key_id]
    assert listed["last_used_at"] is not None

    assert client.delete(f"{KEYS}/{key_id}", headers=admin).status_code == 204
    assert client.get(legs, headers=_bearer(key)).status_code == 401
    [listed] = [k for k in client.get(KEYS, headers=admin).json() if k["id"] == key_id]
    assert listed["revoked_at"] is not None
    actions = [e.action for e in store.audit.entries(details.account_id)]
    assert "token.issue" in actions and "token.revoke" in actions


def test_another_accounts_administrator_cannot_see_or_revoke_our_keys(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    key_id = client.post(KEYS, headers=admin, json={"label": "ours", "scopes": ["admin"]}).json()[
        "id"
    ]
    other = store.accounts.create_account(OPERATOR, "Other LLP", "london")
    outsider = store.accounts.create_user(OPERATOR, other, Role.ADMINISTRATOR, "Otto Admin")
    theirs = _bearer(store.tokens.issue(OPERATOR, other, outsider, {"admin"}, "theirs"))
    assert key_id not in client.get(KEYS, headers=theirs).text
    assert client.delete(f"{KEYS}/{key_id}", headers=theirs).status_code == 404
    [ours] = [k for k in client.get(KEYS, headers=admin).json() if k["id"] == key_id]
    assert ours["revoked_at"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"label": "x", "scopes": []},
        {"label": "x", "scopes": ["everything"]},
        {"label": "", "scopes": ["admin"]},
        {"label": "x", "scopes": ["admin"], "user_id": "someone"},
    ],
)
def test_a_bad_key_request_makes_nothing(
    client: TestClient, store: Store, details: demo.DemoDetails, body: dict[str, object]
) -> None:
    admin = _bearer(details.admin_token)
    before = len(client.get(KEYS, headers=admin).json())
    assert client.post(KEYS, headers=admin, json=body).status_code == 422
    assert len(client.get(KEYS, headers=admin).json()) == before


def test_administrators_read_their_own_audit_log_and_operators_read_all(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    other = store.accounts.create_account(OPERATOR, "Other LLP", "london")
    outsider = store.accounts.create_user(OPERATOR, other, Role.ADMINISTRATOR, "Otto Admin")
    theirs = _bearer(store.tokens.issue(OPERATOR, other, outsider, {"admin"}, "theirs"))
    client.get(f"/api/v1/conferences/{details.conference_id}", headers=_bearer(details.host_token))

    ours = client.get(AUDIT, headers=_bearer(details.admin_token))
    assert ours.status_code == 200
    entries = ours.json()
    assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True)
    read = next(e for e in entries if e["action"] == "conference.read")
    assert read["subject"] == f"conference:{details.conference_id}"
    assert read["reason"] == f"GET /api/v1/conferences/{details.conference_id}"
    assert read["actor"].startswith("host:") and read["source"] == "testclient"
    # Another account's administrator sees none of it.
    assert details.conference_id not in client.get(AUDIT, headers=theirs).text
    assert client.get(AUDIT, headers=_bearer(details.host_token)).status_code == 403

    _, operator_token = store.operator_tokens.issue(OPERATOR, "audit")
    everything = client.get(
        "/api/v1/operator/audit", headers=_bearer(operator_token), params={"limit": 1000}
    ).json()
    accounts = {e["subject"] for e in everything}
    assert f"conference:{details.conference_id}" in accounts
    assert any(e["action"] == "account.create" for e in everything)
    assert client.get(f"{AUDIT}?limit=0", headers=_bearer(details.admin_token)).status_code == 422
    # Reading the log is itself in the log.
    reads = [e for e in store.audit.entries() if e.action == "audit.read"]
    assert [e.subject for e in reads] == [
        "audit",
        f"account:{other}",
        f"account:{details.account_id}",
    ]


PIN_LENGTHS = "/api/v1/account/pin-lengths"


def test_an_administrator_sets_the_pin_lengths_of_new_pins(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    assert client.get(PIN_LENGTHS, headers=admin).json() == {
        "guest": 8,
        "host": 10,
        "applies_to": "pins made from now on",
    }
    for refused, why in [
        ({"guest": 5, "host": 10}, "guest"),
        ({"guest": 8, "host": 13}, "host"),
        ({"guest": 10, "host": 10}, "a host PIN must be longer than a guest PIN"),
        ({"guest": 8, "host": 10, "extra": 1}, "extra"),
    ]:
        answer = client.put(PIN_LENGTHS, headers=admin, json=refused)
        assert answer.status_code == 422 and why in answer.text, answer.text
    set_ = client.put(PIN_LENGTHS, headers=admin, json={"guest": 6, "host": 12})
    assert set_.status_code == 200 and set_.json()["guest"] == 6
    assert "account.pin_lengths" in [e.action for e in store.audit.entries(details.account_id)]

    # The demo conference keeps its PINs; a reset gives a 6-digit one.
    view = store.conferences.get_conference(OPERATOR, details.conference_id)
    assert (view.pin, view.host_pin) == (details.pin, details.host_pin)
    assert store.conferences.find_by_pin(details.pin) == details.conference_id
    assert len(store.conferences.reset_pin(OPERATOR, details.conference_id)) == 6

    # Hosts and a key without the admin scope may not.
    host = _bearer(details.host_token)
    assert client.get(PIN_LENGTHS, headers=host).status_code == 403
    assert client.put(PIN_LENGTHS, headers=host, json={"guest": 8, "host": 10}).status_code == 403
    assert client.put(PIN_LENGTHS, json={"guest": 8, "host": 10}).status_code == 401
