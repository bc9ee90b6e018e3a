"""Importing the account's contact list through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from callroster.accounts import demo
from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.store import Store

OPERATOR = operator_cli("test")


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


def _post(client: TestClient, token: str, body: bytes, kind: str = "text/csv") -> Response:
    return client.post(
        "/api/v1/contacts",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": kind},
    )


def test_host_imports_csv_and_vcard_and_names_resolve(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    response = _post(client, details.host_token, b"name,phone\nAda Lovelace,+44 7700 900321\n")
    assert response.status_code == 201 and response.json() == {"imported": 1}
    vcard = b"BEGIN:VCARD\r\nFN:Grace Hopper\r\nTEL:+1 415 555 0177\r\nEND:VCARD\r\n"
    assert _post(client, details.admin_token, vcard, "text/vcard").status_code == 201
    names = store.contacts
    assert names.name_for_number(OPERATOR, details.account_id, "07700 900321") == "Ada Lovelace"
    assert names.name_for_number(OPERATOR, details.account_id, "+14155550177") == "Grace Hopper"


def test_bad_lists_are_refused_whole_with_their_lines(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    bad = _post(client, details.host_token, b"Ada,+44 7700 900321\nBob,12\n")
    assert bad.status_code == 422
    assert bad.json()["detail"]["problems"][0].startswith("line 2")
    assert store.contacts.name_for_number(OPERATOR, details.account_id, "+447700900321") is None
    assert _post(client, details.host_token, b"x" * (3 * 1024 * 1024)).status_code == 413
    assert _post(client, details.host_token, b"{}", "application/json").status_code == 415
    assert _post(client, details.host_token, b"\xff\xfe", "text/csv").status_code == 422


def test_guests_and_anonymous_may_not_import(
    client: TestClient, store: Store, settings: Settings
) -> None:
    details = demo.ensure_demo(store, settings)
    link = details.web_url.rsplit("/", 1)[1]
    assert _post(client, link, b"Ada,+447700900321\n").status_code == 403
    anonymous = client.post(
        "/api/v1/contacts", content=b"Ada,+447700900321\n", headers={"Content-Type": "text/csv"}
    )
    assert anonymous.status_code == 401
