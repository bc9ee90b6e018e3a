"""The account's CRM webhook through the API: administrators of their own account only, the
secret shown once, and a webhook sent with it verifies at a real receiver."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.crm.receiver import Receiver, serving

from callroster.accounts import demo
from callroster.accounts.actor import Role, operator_cli, system
from callroster.api.crm import router as crm_router
from callroster.config import Settings
from callroster.crm.webhook import WebhookSender
from callroster.store.store import Store

OPERATOR = operator_cli("test")
PATH = "/api/v1/account/crm-webhook"
TOKEN = "crmtok-0e6b5a94d1"
URL = f"https://crm.example/hooks/callroster?token={TOKEN}"
SECRET = "Sextant-Obelisk-Marmalade-9042"


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    # app.py (someone else's) will include the router; this app holds only what is tested.
    app = FastAPI()
    app.state.store = store
    app.state.settings = settings
    app.include_router(crm_router)
    return TestClient(app)


@pytest.fixture
def details(store: Store, settings: Settings) -> demo.DemoDetails:
    return demo.ensure_demo(store, settings)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token_for(store: Store, account_id: str, role: Role) -> str:
    user = store.accounts.create_user(OPERATOR, account_id, role, f"A {role.value}")
    scopes = {"admin"} if role == Role.ADMINISTRATOR else {"roster:read", "legs:control"}
    return store.tokens.issue(OPERATOR, account_id, user, scopes, role.value)


def test_administrator_sets_reads_and_clears(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    assert client.get(PATH, headers=admin).json() == {"url": None, "has_secret": False}

    put = client.put(PATH, headers=admin, json={"url": URL})
    assert put.status_code == 200 and put.headers["cache-control"] == "no-store"
    generated = put.json()["secret"]
    assert put.json() == {"url": URL, "secret": generated} and len(generated) >= 43
    read = client.get(PATH, headers=admin)
    assert read.json() == {"url": URL, "has_secret": True}  # never the secret again
    assert generated not in read.text and read.headers["cache-control"] == "no-store"

    given = client.put(PATH, headers=admin, json={"url": URL, "secret": SECRET})
    assert given.json() == {"url": URL, "secret": None}  # a secret given is not echoed
    target = store.accounts.crm_webhook(system("test"), details.account_id)
    assert target is not None and (target.url, target.secret) == (URL, SECRET.encode())

    assert client.delete(PATH, headers=admin).status_code == 204
    assert client.get(PATH, headers=admin).json() == {"url": None, "has_secret": False}
    assert store.accounts.crm_webhook(system("test"), details.account_id) is None

    entries = list(reversed(store.audit.entries(details.account_id, limit=8)))
    assert [e.action.removeprefix("crm_webhook.") for e in entries] == [
        *["read", "set", "read"],  # GET, PUT, GET
        *["set", "read"],  # PUT with a secret, the system's read
        *["clear", "read", "read"],  # DELETE, GET, the system's read
    ]
    [entry] = [e for e in store.audit.entries(details.account_id) if e.action.endswith("clear")]
    assert entry.reason == f"DELETE {PATH}"
    for entry in store.audit.entries():
        text = " ".join((entry.actor, entry.action, entry.subject, entry.source, entry.reason))
        assert TOKEN not in text and SECRET not in text and generated not in text


def test_bad_settings_are_422_without_echoing_them(
    client: TestClient, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    for body, message in [
        ({"url": f"ftp://crm.example/{TOKEN}"}, "http:// or https://"),
        ({"url": f"javascript:alert('{TOKEN}')"}, "http:// or https://"),
        ({"url": f"https://crm.example/{TOKEN}", "secret": "short"}, "16 to 256"),
        # Call logs carry numbers and notes: never in clear across a network.
        ({"url": f"http://crm.example/{TOKEN}"}, "must be https://"),
        ({"url": f"http://10.0.0.8/{TOKEN}"}, "must be https://"),
    ]:
        response = client.put(PATH, headers=admin, json=body)
        assert response.status_code == 422 and message in response.json()["detail"]
        assert TOKEN not in response.text
    assert client.put(PATH, headers=admin, json={}).status_code == 422
    assert client.put(PATH, headers=admin, json={"url": URL, "sekret": SECRET}).status_code == 422
    assert client.get(PATH, headers=admin).json() == {"url": None, "has_secret": False}


def test_anonymous_and_forged_tokens_get_401(client: TestClient) -> None:
    for headers in ({}, _bearer("cr_forged"), {"Authorization": "Basic eDp5"}):
        assert client.get(PATH, headers=headers).status_code == 401
        assert client.put(PATH, headers=headers, json={"url": URL}).status_code == 401
        assert client.delete(PATH, headers=headers).status_code == 401


@pytest.mark.parametrize("role", ["host", "delegate", "guest"])
def test_hosts_delegates_and_guests_get_403(
    client: TestClient, store: Store, details: demo.DemoDetails, role: str
) -> None:
    client.put(PATH, headers=_bearer(details.admin_token), json={"url": URL, "secret": SECRET})
    if role == "host":
        token = details.host_token
    elif role == "delegate":
        token = _token_for(store, details.account_id, Role.DELEGATE)
    else:
        token = details.web_url.rsplit("/", 1)[1]  # a guest holds the conference link
    headers = _bearer(token)
    assert client.get(PATH, headers=headers).status_code == 403
    assert client.put(PATH, headers=headers, json={"url": "https://x.example/"}).status_code == 403
    assert client.delete(PATH, headers=headers).status_code == 403
    target = store.accounts.crm_webhook(system("test"), details.account_id)
    assert target is not None and target.url == URL


def test_an_administrator_manages_only_their_own_account(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    client.put(PATH, headers=_bearer(details.admin_token), json={"url": URL, "secret": SECRET})
    other_account = store.accounts.create_account(OPERATOR, "Other LLP", "london")
    other = _bearer(_token_for(store, other_account, Role.ADMINISTRATOR))
    assert client.get(PATH, headers=other).json() == {"url": None, "has_secret": False}
    client.put(PATH, headers=other, json={"url": "https://other.example/hook"})
    assert client.delete(PATH, headers=other).status_code == 204
    target = store.accounts.crm_webhook(system("test"), details.account_id)
    assert target is not None and target.url == URL


def test_the_secret_shown_once_verifies_a_webhook_at_the_crm(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    """End to end: the administrator configures the webhook, the click-to-call side reads
    it as the system and sends a log, and the CRM checks it with the secret it was shown."""

    async def scenario() -> tuple[bool, Receiver]:
        shown: dict[str, str] = {}
        async with serving(Receiver(b"unknown yet")) as receiver:
            put = await asyncio.to_thread(
                client.put, PATH, headers=_bearer(details.admin_token), json={"url": receiver.url}
            )
            shown.update(put.json())
            receiver.secret = shown["secret"].encode()  # what the CRM's admin pasted in
            target = store.accounts.crm_webhook(system("click-to-call"), details.account_id)
            assert target is not None
            sender = WebhookSender()
            try:
                result = await sender.deliver(target, "call_1", {"duration_s": 61})
            finally:
                await sender.aclose()
            return result.delivered, receiver

    delivered, receiver = asyncio.run(scenario())
    assert delivered
    [request] = receiver.requests
    assert request.signature_ok
