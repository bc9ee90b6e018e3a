"""The operator's consent records page against the real app in-process: the public key it
shows is the one the API serves; the download it offers is the signed export and verifies
(JSON and CSV); a browser without an operator's session (nobody, or a signed-in host) is
sent to the operator's sign-in; a time that is not one is refused with the reason."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi import FastAPI
from tests.conftest import FakeClock
from tests.web.test_operator import browser, sign_in
from tests.web.test_signin import HOST_EMAIL, PASSWORD, Firm, signin_app
from tests.web.test_signin import browser as user_browser
from tests.web.test_signin import sign_in as user_sign_in

from callroster.accounts.actor import operator_cli
from callroster.config import Settings
from callroster.privacy.consent_export import key_id, load_public_key, verify
from callroster.privacy.consent_record import ConsentGiven, ConsentMethod
from callroster.store.store import Store

OPERATOR = operator_cli("test")


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def _seed(store: Store, clock: FakeClock, n: int) -> None:
    for i in range(n):
        store.consent_records.add(
            ConsentGiven(
                optional=frozenset({"targeting"}),
                policy_version="2025-1",
                text_sha256="12" * 32,
                given_at=clock(),
                method=ConsentMethod.DNT,
                ip_truncated=f"203.0.113.{i}",
                user_agent="WebPageTest/1.0",
            )
        )
        clock.advance(minutes=1)


def test_the_page_shows_the_public_key_and_its_download_verifies(
    app: FastAPI, store: Store, clock: FakeClock
) -> None:
    _seed(store, clock, 3)
    client = browser(app)
    assert sign_in(client, store.operator_tokens.issue(OPERATOR, "web")[1]).status_code == 303
    home = client.get("/operator")
    assert 'href="/operator/consent"' in home.text
    shown = client.get("/operator/consent")
    assert shown.status_code == 200
    served = client.get("/api/v1/consent/public-key")
    public = load_public_key(served.content)
    assert f'<code id="key-id">{key_id(public)}</code>' in shown.text
    pem = re.search(r'<pre id="public-key">(.*?)</pre>', shown.text, re.S)
    assert pem is not None and pem.group(1) == served.text
    assert 'action="/operator/consent/export"' in shown.text
    for fmt in ("json", "csv"):
        download = client.get("/operator/consent/export", params={"format": fmt})
        assert download.status_code == 200, download.text
        assert f'.{fmt}"' in download.headers["content-disposition"]
        assert verify(download.content, public).records == 3
    since = (clock() - dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    window = client.get("/operator/consent/export", params={"format": "csv", "since": since})
    assert verify(window.content, public).records == 2


def test_no_operator_session_no_page_and_no_download(
    app: FastAPI, store: Store, settings: Settings, clock: FakeClock
) -> None:
    _seed(store, clock, 1)
    nobody = browser(app)
    for path in ("/operator/consent", "/operator/consent/export?format=json"):
        answer = nobody.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/operator/login"
    Firm(store)
    host = user_browser(signin_app(store, settings))
    assert user_sign_in(host, HOST_EMAIL, PASSWORD).status_code == 303
    answer = host.get("/operator/consent/export?format=json")
    assert answer.status_code == 303 and answer.headers["location"] == "/operator/login"


def test_a_wrong_time_or_format_is_refused_with_the_reason(app: FastAPI, store: Store) -> None:
    client = browser(app)
    sign_in(client, store.operator_tokens.issue(OPERATOR, "web")[1])
    bad = client.get("/operator/consent/export", params={"since": "yesterday"})
    assert bad.status_code == 422 and "give times as the form does" in bad.text
    backwards = client.get(
        "/operator/consent/export",
        params={"since": "2026-12-07T10:00:00", "until": "2026-12-07T09:00:00"},
    )
    assert backwards.status_code == 422 and "the start must be before the end" in backwards.text
    xml = client.get("/operator/consent/export", params={"format": "xml"})
    assert xml.status_code == 422 and "choose JSON or CSV" in xml.text


def test_after_a_rotation_the_page_shows_the_new_key_and_lists_the_earlier_one(
    app: FastAPI, store: Store, clock: FakeClock
) -> None:
    _seed(store, clock, 1)
    client = browser(app)
    assert sign_in(client, store.operator_tokens.issue(OPERATOR, "web")[1]).status_code == 303
    before = client.get("/operator/consent")
    assert "has not been rotated" in before.text and 'id="earlier-keys"' not in before.text
    old_export = client.get("/operator/consent/export", params={"format": "json"}).content
    clock.advance(minutes=3)
    rotation = store.consent_records.signing_keys.rotate(OPERATOR)
    shown = client.get("/operator/consent")
    assert f'<code id="key-id">{rotation.new_key_id}</code>' in shown.text
    earlier = re.search(r'<ul id="earlier-keys">(.*?)</ul>', shown.text, re.S)
    assert earlier is not None and f"<code>{rotation.old_key_id}</code>" in earlier.group(1)
    assert f"to {clock():%Y-%m-%d %H:%M} UTC" in earlier.group(1)
    assert 'href="/api/v1/consent/public-keys"' in shown.text
    new_export = client.get("/operator/consent/export", params={"format": "json"}).content
    assert store.consent_records.signing_keys.verify(new_export)[1].current
    assert store.consent_records.signing_keys.verify(old_export)[1].key_id == rotation.old_key_id
