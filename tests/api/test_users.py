"""The account's users through the API, on both stores: administrators add, edit, suspend,
resume and remove them and read a host's conference history; a host edits their own
profile, authorises a delegate who then manages the host's conferences but never the
host's profile; a PIN reset retires the old PIN. Passwords go in and never come out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from callroster.accounts import demo
from callroster.accounts.actor import Role, operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.models import User
from callroster.store.store import Store

OPERATOR = operator_cli("test")
USERS = "/api/v1/account/users"
PASSWORD = "Tundra-Pelican-Harbour-31"


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


@pytest.fixture
def details(store: Store, settings: Settings) -> demo.DemoDetails:
    return demo.ensure_demo(store, settings)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_administrator_adds_edits_suspends_resumes_and_removes_a_host(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    added = client.post(
        USERS,
        headers=admin,
        json={
            "role": "host",
            "name": "Priya Partner",
            "email": "Priya.Partner@Firm.example",
            "phone": "07700 900612",
            "password": PASSWORD,
        },
    )
    assert added.status_code == 201, added.text
    host = added.json()
    assert (host["name"], host["email"], host["phone"], host["role"]) == (
        "Priya Partner",
        "priya.partner@firm.example",
        "+447700900612",
        "host",
    )
    assert PASSWORD not in added.text and "password" not in host
    assert store.accounts.check_sign_in("priya.partner@firm.example", PASSWORD).password_ok

    listed = client.get(USERS, headers=admin)
    assert "Priya Partner" in [u["name"] for u in listed.json()] and PASSWORD not in listed.text

    edited = client.patch(
        f"{USERS}/{host['id']}", headers=admin, json={"name": "Priya P. Partner", "phone": ""}
    )
    assert (edited.json()["name"], edited.json()["phone"]) == ("Priya P. Partner", None)
    duplicate = client.patch(
        f"{USERS}/{host['id']}", headers=admin, json={"email": demo.DEMO_HOST_EMAIL}
    )
    assert duplicate.status_code == 409

    # A new password set by the administrator ends the sessions the old one opened.
    signed_in = store.web_sessions.create(
        OPERATOR, host["id"], stay_signed_in=False, second_factor_done=True
    )
    assert store.web_sessions.authenticate(signed_in) is not None
    reset = client.patch(f"{USERS}/{host['id']}", headers=admin, json={"password": PASSWORD * 2})
    assert reset.status_code == 200 and PASSWORD not in reset.text
    assert store.web_sessions.authenticate(signed_in) is None
    assert store.accounts.check_sign_in("priya.partner@firm.example", PASSWORD * 2).password_ok
    client.patch(f"{USERS}/{host['id']}", headers=admin, json={"password": PASSWORD})

    token = store.tokens.issue(OPERATOR, details.account_id, host["id"], {"roster:read"}, "t")
    conference = store.conferences.create_conference(OPERATOR, host["id"], "Partners' call")
    pin = store.conferences.get_conference(OPERATOR, conference).pin
    assert store.conferences.open_with_pin(pin) is not None
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 200

    suspended = client.post(f"{USERS}/{host['id']}/suspend", headers=admin)
    assert suspended.status_code == 200 and suspended.json()["suspended"] is True
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 401
    assert store.conferences.open_with_pin(pin) is None  # their conferences take no calls
    assert not store.accounts.check_password(host["id"], PASSWORD)

    assert client.post(f"{USERS}/{host['id']}/resume", headers=admin).json()["suspended"] is False
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 200
    assert store.conferences.open_with_pin(pin) is not None

    history = client.get(f"{USERS}/{host['id']}/conferences", headers=admin).json()
    # The personal conference every host is given when added (issue 13), and the one made.
    assert sorted((c["title"], c["legs"]) for c in history) == [
        ("Partners' call", 0),
        ("Priya Partner's conference", 0),
    ]
    assert [c["pin"] for c in history if c["title"] == "Partners' call"] == [pin]
    for number in ("+447700900701", "+447700900702"):
        store.conferences.add_leg(
            OPERATOR,
            conference,
            joined_via="dial_in",
            name="Gwen Guest",
            name_source="contact",
            number=number,
            withheld=False,
        )

    def partners_call() -> dict[str, Any]:
        """This conference's row of the host's history (both were made at the same instant,
        so their order is the database's to choose)."""
        history = client.get(f"{USERS}/{host['id']}/conferences", headers=admin).json()
        [row] = [c for c in history if c["id"] == conference]
        return dict(row)

    assert partners_call()["legs"] == 2 and partners_call()["last_joined_at"] is not None
    cleared = client.delete(f"/api/v1/account/conferences/{conference}/history", headers=admin)
    assert cleared.json() == {"deleted": 2}
    assert store.conferences.legs(OPERATOR, conference) == []
    assert partners_call()["legs"] == 0

    assert client.delete(f"{USERS}/{host['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 401
    assert store.conferences.open_with_pin(pin) is None
    [removed] = [u for u in client.get(USERS, headers=admin).json() if u["id"] == host["id"]]
    assert (removed["name"], removed["email"], removed["removed"]) == ("Removed user", None, True)
    assert store.accounts.find_user_ids_by_email("priya.partner@firm.example") == []
    with store.sessions() as session:
        row = session.get_one(User, host["id"])
        erased = (row.email_enc, row.email_index, row.phone_enc, row.phone_index)
        assert erased == (None, None, None, None)
        assert (row.password_hash, row.totp_secret_enc) == (None, None)
    actions = {e.action for e in store.audit.entries(details.account_id)}
    for action in ("user.create", "user.update", "user.suspend", "user.resume", "user.remove"):
        assert action in actions


def test_an_administrator_cannot_suspend_or_remove_themselves_or_reach_another_account(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    me = client.get("/api/v1/me", headers=admin).json()
    assert client.post(f"{USERS}/{me['id']}/suspend", headers=admin).status_code == 409
    assert client.delete(f"{USERS}/{me['id']}", headers=admin).status_code == 409
    demoted = client.patch(f"{USERS}/{me['id']}", headers=admin, json={"role": "host"})
    assert demoted.status_code == 409

    other = store.accounts.create_account(OPERATOR, "Other LLP", "london")
    stranger = store.accounts.create_user(OPERATOR, other, Role.HOST, "Sam Stranger")
    for method, path in (
        ("GET", f"{USERS}/{stranger}"),
        ("PATCH", f"{USERS}/{stranger}"),
        ("POST", f"{USERS}/{stranger}/suspend"),
        ("DELETE", f"{USERS}/{stranger}"),
        ("GET", f"{USERS}/{stranger}/conferences"),
    ):
        body = {"name": "Hijacked"} if method == "PATCH" else None
        response = client.request(method, path, headers=admin, json=body)
        assert response.status_code == 404, (method, path, response.text)
    assert store.accounts.get_user(OPERATOR, stranger).name == "Sam Stranger"
    assert not store.accounts.get_user(OPERATOR, stranger).suspended


def test_a_host_authorises_a_delegate_who_manages_the_conference_but_not_the_host(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    host = _bearer(details.host_token)
    host_id = client.get("/api/v1/me", headers=host).json()["id"]
    delegate_id = store.accounts.create_user(
        OPERATOR, details.account_id, Role.DELEGATE, "Dev Delegate"
    )
    delegate = _bearer(
        store.tokens.issue(
            OPERATOR, details.account_id, delegate_id, {"roster:read", "legs:control"}, "d"
        )
    )
    conference = f"/api/v1/conferences/{details.conference_id}"
    assert client.get(conference, headers=delegate).status_code == 403

    added = client.post("/api/v1/me/delegates", headers=host, json={"user_id": delegate_id})
    assert added.status_code == 201 and [d["name"] for d in added.json()] == ["Dev Delegate"]
    assert client.get(conference, headers=delegate).status_code == 200
    old_pin = client.get(conference, headers=host).json()["pin"]
    reset = client.post(f"{conference}/pin", headers=delegate)
    assert reset.status_code == 200 and reset.json()["pin"] != old_pin
    assert store.conferences.open_with_pin(old_pin) is None
    assert store.conferences.open_with_pin(reset.json()["pin"]) is not None
    assert client.get(conference, headers=host).json()["pin"] == reset.json()["pin"]

    # The host's profile and credentials are not the delegate's to change.
    assert (
        client.patch(f"{USERS}/{host_id}", headers=delegate, json={"name": "X"}).status_code == 403
    )
    assert client.get("/api/v1/me/delegates", headers=delegate).status_code == 403
    renamed = client.patch("/api/v1/me", headers=delegate, json={"name": "Dev D. Delegate"})
    assert renamed.json()["name"] == "Dev D. Delegate"  # their own profile is
    assert client.get("/api/v1/me", headers=host).json()["name"] == "Harriet Host"

    # A host can only delegate to a delegate of the same account.
    colleague = store.accounts.create_user(OPERATOR, details.account_id, Role.HOST, "Hal Host")
    refused = client.post("/api/v1/me/delegates", headers=host, json={"user_id": colleague})
    assert refused.status_code == 422
    other = store.accounts.create_account(OPERATOR, "Other LLP", "london")
    outsider = store.accounts.create_user(OPERATOR, other, Role.DELEGATE, "Olly Outsider")
    assert (
        client.post("/api/v1/me/delegates", headers=host, json={"user_id": outsider}).status_code
        == 404
    )

    assert client.delete(f"/api/v1/me/delegates/{delegate_id}", headers=host).status_code == 204
    assert client.get(conference, headers=delegate).status_code == 403
    assert client.delete(f"/api/v1/me/delegates/{delegate_id}", headers=host).status_code == 404


def test_a_host_edits_their_own_phone_and_the_administrator_deletes_the_contact_list(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    host = _bearer(details.host_token)
    changed = client.patch("/api/v1/me", headers=host, json={"phone": "+44 20 7946 0321"})
    assert changed.json()["phone"] == "+442079460321"
    bad = client.patch("/api/v1/me", headers=host, json={"phone": "call me maybe"})
    assert bad.status_code == 422 and "call me maybe" not in bad.text

    csv = b"name,phone\nConnie Contact,+447700900888\n"
    imported = client.post(
        "/api/v1/contacts", headers={**host, "Content-Type": "text/csv"}, content=csv
    )
    assert imported.status_code == 201
    assert (
        store.contacts.name_for_number(OPERATOR, details.account_id, "+447700900888")
        == "Connie Contact"
    )
    assert client.delete("/api/v1/account/contacts", headers=host).status_code == 403
    deleted = client.delete("/api/v1/account/contacts", headers=_bearer(details.admin_token))
    assert deleted.json() == {"deleted": 1}
    assert store.contacts.name_for_number(OPERATOR, details.account_id, "+447700900888") is None
