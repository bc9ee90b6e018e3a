"""The consent export over the API (issue 16), against the real app on both stores: an
operator's export verifies against the public key the service shows anyone; nobody else gets
one (401 without a token, 403 with a user's token, 401 with a host's browser session); it is
paged by ``limit`` and ``next_since``; every export is audit-logged without personal data."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.web.test_signin import HOST_EMAIL, PASSWORD, Firm, browser, sign_in, signin_app

from callroster.accounts.actor import operator_cli
from callroster.api.operator_consent import DOWNLOAD_SLICE, export_response
from callroster.api.rate_limit import SlidingWindow
from callroster.config import Settings
from callroster.privacy.consent_export import ExportInvalidError, key_id, load_public_key, verify
from callroster.privacy.consent_record import ConsentGiven, ConsentMethod
from callroster.store.consent_records import SignedExport
from callroster.store.models import AuditEntry
from callroster.store.store import Store

OPERATOR = operator_cli("test")
EXPORT = "/api/v1/operator/consent-records"
KEY = "/api/v1/consent/public-key"
AGENT = "Mozilla/5.0 ApiExportTest/2.0"


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(signin_app(store, settings), base_url="https://testserver")


@pytest.fixture
def bearer(store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.operator_tokens.issue(OPERATOR, 'api')[1]}"}


def _seed(store: Store, clock: FakeClock, n: int) -> list[str]:
    ids = []
    for i in range(n):
        ids.append(
            store.consent_records.add(
                ConsentGiven(
                    optional=frozenset({"performance"}) if i % 2 else frozenset(),
                    policy_version="2025-1",
                    text_sha256="cd" * 32,
                    given_at=clock(),
                    method=ConsentMethod.BANNER,
                    ip_truncated=f"198.51.100.{i}",
                    user_agent=AGENT,
                )
            )
        )
        clock.advance(seconds=1)
    return ids


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_operators_export_verifies_against_the_public_key_anyone_can_fetch(
    client: TestClient, store: Store, clock: FakeClock, bearer: dict[str, str], fmt: str
) -> None:
    _seed(store, clock, 4)
    pem = client.get(KEY)
    assert pem.status_code == 200 and pem.text.startswith("-----BEGIN PUBLIC KEY-----")
    public = load_public_key(pem.content)
    assert pem.headers["x-key-id"] == key_id(public)
    answer = client.get(EXPORT, params={"format": fmt}, headers=bearer)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(
        "application/json" if fmt == "json" else "text/csv"
    )
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.headers["x-record-count"] == "4" and "x-next-since" not in answer.headers
    assert answer.headers["content-length"] == str(len(answer.content))
    assert verify(answer.content, public).records == 4
    tampered = answer.content.replace(b"198.51.100.1", b"198.51.100.9")
    assert tampered != answer.content
    with pytest.raises(ExportInvalidError, match="does not match"):
        verify(tampered, public)


def test_a_file_larger_than_a_slice_is_sent_whole_in_slices_of_its_buffer() -> None:
    """The download is sent in slices of the buffer the export was built in (no copy of
    the whole file): two and a half slices arrive as the very bytes, with their length."""
    data = bytearray(bytes(range(256)) * (DOWNLOAD_SLICE * 5 // 512))
    data += b"end"
    signed = SignedExport(data, 7, dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    app = FastAPI()
    app.get("/file")(lambda: export_response(signed, "csv", "20261207T000000Z"))
    answer = TestClient(app).get("/file")
    assert answer.content == data and len(data) > 2 * DOWNLOAD_SLICE
    assert answer.headers["content-length"] == str(len(data))
    assert answer.headers["x-record-count"] == "7"
    assert answer.headers["x-next-since"] == "2026-12-07T00:00:00+00:00"
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"


def test_nobody_but_the_operator_exports(
    client: TestClient, store: Store, settings: Settings, clock: FakeClock
) -> None:
    firm = Firm(store)
    _seed(store, clock, 1)
    assert client.get(EXPORT).status_code == 401
    assert (
        client.get(EXPORT, headers={"Authorization": "Bearer cro_" + "x" * 43}).status_code == 401
    )
    user = {"Authorization": f"Bearer {firm.host_token}"}
    assert client.get(EXPORT, headers=user).status_code == 403
    # A host signed in with a browser session: the session is not an operator's.
    host = browser(signin_app(store, settings))
    assert sign_in(host, HOST_EMAIL, PASSWORD).status_code == 303
    assert host.get("/api/v1/me").status_code == 200  # the session is live
    assert host.get(EXPORT).status_code == 401
    with store.sessions() as session:
        exports = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent_records.export")
        ).all()
    assert exports == []


def test_the_export_is_paged_and_each_page_is_audit_logged_without_personal_data(
    client: TestClient, store: Store, clock: FakeClock, bearer: dict[str, str]
) -> None:
    ids = _seed(store, clock, 5)
    seen: list[str] = []
    params: dict[str, str | int] = {"format": "json", "limit": 2}
    pages = 0
    while True:
        answer = client.get(EXPORT, params=params, headers=bearer)
        assert answer.status_code == 200, answer.text
        payload = json.loads(answer.content)["payload"]
        seen += [r["id"] for r in payload["records"]]
        pages += 1
        if payload["next_since"] is None:
            assert "x-next-since" not in answer.headers
            break
        assert answer.headers["x-next-since"]
        params["since"] = payload["next_since"]
    assert seen == ids and pages == 3
    until = (clock() - dt.timedelta(seconds=3)).isoformat()
    window = client.get(EXPORT, params={"until": until}, headers=bearer)
    assert [r["id"] for r in json.loads(window.content)["payload"]["records"]] == ids[:2]
    assert client.get(EXPORT, params={"limit": 100_001}, headers=bearer).status_code == 422
    assert client.get(EXPORT, params={"format": "xml"}, headers=bearer).status_code == 422
    backwards = {"since": clock().isoformat(), "until": until}
    assert client.get(EXPORT, params=backwards, headers=bearer).status_code == 422
    with store.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent_records.export")
        ).all()
    assert [e.subject for e in entries] == [
        "consent_records:2 rows, more to come",
        "consent_records:2 rows, more to come",
        "consent_records:1 rows",
        "consent_records:2 rows",
    ]
    assert all(e.actor.startswith("operator") for e in entries), [e.actor for e in entries]
    text = json.dumps([[e.subject, e.reason, e.actor, e.source] for e in entries])
    assert "198.51.100" not in text and "ApiExportTest" not in text


def test_after_a_rotation_anyone_fetches_the_current_key_and_every_earlier_one(
    client: TestClient, store: Store, clock: FakeClock, bearer: dict[str, str]
) -> None:
    _seed(store, clock, 2)
    old = client.get(KEY)
    before = client.get(EXPORT, headers=bearer).content
    clock.advance(hours=1)
    rotation = store.consent_records.signing_keys.rotate(OPERATOR)
    after = client.get(EXPORT, headers=bearer).content

    current = client.get(KEY)
    assert current.headers["x-key-id"] == rotation.new_key_id != old.headers["x-key-id"]
    assert "x-key-retired-at" not in current.headers
    assert verify(after, load_public_key(current.content)).records == 2
    earlier = client.get(KEY, params={"key_id": rotation.old_key_id})
    assert earlier.status_code == 200 and earlier.text == old.text
    assert earlier.headers["x-key-retired-at"] == clock().isoformat()
    assert verify(before, load_public_key(earlier.content)).records == 2
    with pytest.raises(ExportInvalidError, match="not with this public key"):
        verify(after, load_public_key(earlier.content))
    assert client.get(KEY, params={"key_id": "0" * 16}).status_code == 404
    assert client.get(KEY, params={"key_id": "not-a-key-id"}).status_code == 422

    listed = client.get("/api/v1/consent/public-keys")
    assert listed.status_code == 200
    keys = listed.json()["keys"]
    assert [(k["key_id"], k["retired_at"]) for k in keys] == [
        (rotation.new_key_id, None),
        (rotation.old_key_id, clock().isoformat()),
    ]
    assert [k["public_key"] for k in keys] == [current.text, old.text]


def test_each_address_fetches_the_public_keys_a_bounded_number_of_times(
    client: TestClient,
) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.consent_key_window = SlidingWindow(3, 60.0)  # the same check, a smaller limit
    answers = [client.get(path) for path in (KEY, "/api/v1/consent/public-keys", KEY, KEY)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert "too many requests" in answers[-1].json()["detail"]
