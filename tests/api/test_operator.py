"""The operator API for SIP trunks, against the real app in-process on both stores: only an
operator token opens it, a trunk's password goes in and never comes out, bad input gets one
clear message, and every use is in the audit log."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from callroster.accounts import demo
from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.store import Store

OPERATOR = operator_cli("test")
TRUNKS = "/api/v1/operator/trunks"
PASSWORD = "Quasar-Ledger-Pumice-7713"
TRUNK = {
    "name": "carrier-uk",
    "uri": "sip:127.0.0.1:5099;transport=tcp",
    "username": "callroster",
    "password": PASSWORD,
    "prefixes": ["+44"],
    "caller_id": "+442079460000",
}


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


@pytest.fixture
def operator_token(store: Store) -> str:
    _, token = store.operator_tokens.issue(OPERATOR, "api test")
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_operator_adds_lists_and_removes_a_trunk(
    client: TestClient, store: Store, operator_token: str
) -> None:
    added = client.post(TRUNKS, json=TRUNK, headers=_bearer(operator_token))
    assert added.status_code == 201, added.text
    assert added.json() == {
        "id": added.json()["id"],
        "name": "carrier-uk",
        "uri": "sip:127.0.0.1:5099;transport=tcp",
        "transport": "tcp",
        "username": "callroster",
        "has_password": True,
        "prefixes": ["+44"],
        "caller_id": "+442079460000",
    }
    listed = client.get(TRUNKS, headers=_bearer(operator_token))
    assert [t["name"] for t in listed.json()] == ["carrier-uk"]
    assert PASSWORD not in added.text + listed.text
    # The trunk really routes: the bridge gets the password to answer a challenge.
    route = store.trunks.route(OPERATOR, "+447700900123")
    assert route is not None and route.password == PASSWORD

    assert client.delete(f"{TRUNKS}/carrier-uk", headers=_bearer(operator_token)).status_code == 204
    assert client.get(TRUNKS, headers=_bearer(operator_token)).json() == []
    missing = client.delete(f"{TRUNKS}/carrier-uk", headers=_bearer(operator_token))
    assert missing.status_code == 404 and "carrier-uk" in missing.json()["detail"]

    actions = [e.action for e in store.audit.entries()]
    for action in ("trunk.add", "trunk.list", "trunk.remove"):
        assert action in actions
    uses = [e for e in store.audit.entries() if e.action == "trunk.add"]
    assert uses[0].actor.startswith("operator:token:")
    assert uses[0].reason == f"POST {TRUNKS}"


def test_only_an_operator_token_opens_the_operator_api(
    client: TestClient, store: Store, settings: Settings, operator_token: str
) -> None:
    details = demo.ensure_demo(store, settings)
    assert client.get(TRUNKS).status_code == 401
    assert client.get(TRUNKS, headers=_bearer("cro_forged")).status_code == 401
    guest_link = details.web_url.rsplit("/", 1)[1]
    for user_token in (details.admin_token, details.host_token, guest_link):
        assert client.get(TRUNKS, headers=_bearer(user_token)).status_code == 403
        assert client.post(TRUNKS, json=TRUNK, headers=_bearer(user_token)).status_code == 403
    # An operator token is not a user's: it opens nothing of an account's.
    me = client.get("/api/v1/me", headers=_bearer(operator_token))
    assert me.status_code == 403 and "operator API" in me.json()["detail"]


def test_a_revoked_operator_token_opens_nothing(client: TestClient, store: Store) -> None:
    token_id, token = store.operator_tokens.issue(OPERATOR, "to revoke")
    assert client.get(TRUNKS, headers=_bearer(token)).status_code == 200
    (view,) = store.operator_tokens.list(OPERATOR)
    assert view.last_used_at is not None
    store.operator_tokens.revoke(OPERATOR, token_id[:8])
    assert client.get(TRUNKS, headers=_bearer(token)).status_code == 401


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uri": "sip:user:secret@carrier.example"}, "no user part"),
        ({"uri": "sips:carrier.example;transport=udp"}, "TLS only"),  # sips: is TLS
        ({"prefixes": ["+999"]}, "country calling code"),
        ({"caller_id": "0207946"}, "E.164"),
        ({"username": None}, "needs a username"),
        ({"name": "bad name!"}, "name"),
    ],
)
def test_bad_trunks_get_one_clear_message_and_add_nothing(
    client: TestClient, operator_token: str, change: dict[str, object], message: str
) -> None:
    refused = client.post(TRUNKS, json={**TRUNK, **change}, headers=_bearer(operator_token))
    assert refused.status_code == 422
    assert message in refused.json()["detail"]
    assert PASSWORD not in refused.text and "secret@" not in refused.text
    assert client.get(TRUNKS, headers=_bearer(operator_token)).json() == []


def test_a_malformed_body_never_echoes_the_password(
    client: TestClient, operator_token: str
) -> None:
    # Wrong types and unknown fields are refused by validation; its answer names the field
    # but never repeats what was sent, which could be a password.
    for body in (
        {**TRUNK, "password": {"nested": PASSWORD}},
        {**TRUNK, "pasword": PASSWORD},
        {**TRUNK, "password": PASSWORD * 20},
    ):
        refused = client.post(TRUNKS, json=body, headers=_bearer(operator_token))
        assert refused.status_code == 422
        assert PASSWORD not in refused.text
        assert refused.json()["detail"][0]["loc"][0] == "body"


def test_a_duplicate_name_is_a_conflict(client: TestClient, operator_token: str) -> None:
    assert client.post(TRUNKS, json=TRUNK, headers=_bearer(operator_token)).status_code == 201
    again = client.post(TRUNKS, json=TRUNK, headers=_bearer(operator_token))
    assert again.status_code == 409 and "already exists" in again.json()["detail"]


# -- the number plan (issue 13) ----------------------------------------------------------------
NUMBERS = "/api/v1/operator/numbers"


def test_an_operator_keeps_the_number_plan(
    client: TestClient, store: Store, settings: Settings, operator_token: str
) -> None:
    details = demo.ensure_demo(store, settings)
    op = _bearer(operator_token)
    added = client.post(
        NUMBERS,
        json={"number": "+44 20 7946 0000", "region": "london", "label": "London"},
        headers=op,
    )
    assert added.status_code == 201, added.text
    assert {k: v for k, v in added.json().items() if k != "id"} == {
        "number": "+442079460000",
        "country": "GB",
        "kind": "toll",
        "region": "london",
        "label": "London",
        "accounts": 0,
    }
    paris = client.post(NUMBERS, json={"number": "+33142868200", "label": "Paris"}, headers=op)
    assert paris.status_code == 201
    limited = client.put(
        f"/api/v1/operator/accounts/{details.account_id}/numbers",
        json={"numbers": ["+442079460000"]},
        headers=op,
    )
    assert limited.json() == {
        "account_id": details.account_id,
        "limited": True,
        "numbers": ["+442079460000"],
    }
    shown = client.get(
        f"/api/v1/conferences/{details.conference_id}", headers=_bearer(details.host_token)
    )
    assert shown.json()["dial_in_numbers"] == ["+442079460000"]
    assert shown.json()["dial_ins"] == [
        {"number": "+442079460000", "country": "GB", "kind": "toll", "label": "London"}
    ]
    listed = {n["number"]: n["accounts"] for n in client.get(NUMBERS, headers=op).json()}
    assert listed == {"+33142868200": 0, "+442079460000": 1, "2000": 0}
    refused = client.delete(f"{NUMBERS}/+442079460000", headers=op)
    assert refused.status_code == 409
    assert "is given to 1 account" in refused.json()["detail"]
    assert client.delete(f"{NUMBERS}/+442079460000?force=true", headers=op).status_code == 204
    assert client.delete(f"{NUMBERS}/+442079460000", headers=op).status_code == 404
    actions = [e.action for e in store.audit.entries(None, 100)]
    assert actions.count("number.add") == 2 and "number.remove" in actions


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"number": "020 7946 0000"}, 422, "is not an E.164 number"),
        ({"number": "+442079460000", "country": "FR"}, 422, "is a number of GB, not FR"),
        ({"number": "+442079460001"}, 409, "is in the number plan already"),
    ],
)
def test_a_bad_number_gets_one_clear_message(
    client: TestClient,
    store: Store,
    operator_token: str,
    body: dict[str, str],
    status: int,
    detail: str,
) -> None:
    op = _bearer(operator_token)
    assert client.post(NUMBERS, json={"number": "+442079460001"}, headers=op).status_code == 201
    answer = client.post(NUMBERS, json=body, headers=op)
    assert answer.status_code == status and detail in answer.json()["detail"], answer.text
    assert [n["number"] for n in client.get(NUMBERS, headers=op).json()] == ["+442079460001"]
