"""Legal holds over the operator API, against the real app on both stores: place, list and
release (operators only, audit-logged), and what a user sees through the API meanwhile: a
host's conference history hides legs past their twelve months at once, except on a held
conference, and shows them hidden again the moment the hold is released."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.conftest import FakeClock

from callroster.accounts import demo
from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.store import Store

OPERATOR = operator_cli("test")
HOLDS = "/api/v1/operator/legal-holds"


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


@pytest.fixture
def details(store: Store, settings: Settings) -> demo.DemoDetails:
    return demo.ensure_demo(store, settings)


@pytest.fixture
def bearer(store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.operator_tokens.issue(OPERATOR, 'api')[1]}"}


def _history_legs(client: TestClient, details: demo.DemoDetails) -> int:
    admin = {"Authorization": f"Bearer {details.admin_token}"}
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {details.host_token}"})
    host_id = me.json()["id"]
    history = client.get(f"/api/v1/account/users/{host_id}/conferences", headers=admin)
    assert history.status_code == 200, history.text
    [row] = [c for c in history.json() if c["id"] == details.conference_id]
    return int(row["legs"])


def test_an_operator_holds_a_conference_and_its_history_stays_until_released(
    client: TestClient,
    store: Store,
    details: demo.DemoDetails,
    bearer: dict[str, str],
    clock: FakeClock,
) -> None:
    store.conferences.add_leg(
        OPERATOR,
        details.conference_id,
        joined_via="dial_in",
        name="Gwen Guest",
        name_source="typed",
        number="+447700900701",
        withheld=False,
    )
    assert _history_legs(client, details) == 1

    placed = client.post(
        HOLDS,
        headers=bearer,
        json={"kind": "conference", "target_id": details.conference_id, "reason": "case 7"},
    )
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["kind"], hold["account_id"]) == ("conference", details.account_id)
    again = client.post(
        HOLDS,
        headers=bearer,
        json={"kind": "conference", "target_id": details.conference_id, "reason": "case 7"},
    )
    assert again.status_code == 409
    assert [h["id"] for h in client.get(HOLDS, headers=bearer).json()] == [hold["id"]]

    clock.advance(days=400)  # the leg is past its twelve months, but held
    assert _history_legs(client, details) == 1
    assert store.purge().run().total_rows == 0

    released = client.delete(f"{HOLDS}/{hold['id']}", headers=bearer)
    assert released.status_code == 204
    assert _history_legs(client, details) == 0  # hidden at once, before any purge
    assert client.delete(f"{HOLDS}/{hold['id']}", headers=bearer).status_code == 404
    assert store.purge().run().total_rows == 1
    actions = {e.action for e in store.audit.entries(details.account_id)}
    assert {"legal_hold.place", "legal_hold.release", "retention.purge"} <= actions


def test_holds_are_for_operators_only_and_on_something_that_exists(
    client: TestClient, details: demo.DemoDetails, bearer: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {details.admin_token}"}
    body = {"kind": "account", "target_id": details.account_id, "reason": "case 8"}
    assert client.get(HOLDS).status_code == 401
    assert client.post(HOLDS, json=body).status_code == 401
    assert client.get(HOLDS, headers=admin).status_code == 403
    assert client.post(HOLDS, headers=admin, json=body).status_code == 403
    missing = {"kind": "host", "target_id": "no-such-user", "reason": "case 9"}
    assert client.post(HOLDS, headers=bearer, json=missing).status_code == 404
    wrong = {"kind": "leg", "target_id": details.account_id, "reason": "case 9"}
    assert client.post(HOLDS, headers=bearer, json=wrong).status_code == 422
    assert client.post(HOLDS, headers=bearer, json=body).status_code == 201  # the control
