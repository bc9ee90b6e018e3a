"""The account's CRM webhook through the API: administrators of their own account only, the
secret shown once, a URL refused (422, saying why) when its host is or resolves to a
loopback, private, link-local or other non-public address unless the operator allows private
targets, and a webhook sent with it verifies at a real receiver. The made-up names here are
answered by a resolver of the test's own; nothing is looked up."""

from __future__ import annotations

import asyncio
import socket

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.crm.receiver import Receiver, serving

from callroster.accounts import demo
from callroster.accounts.actor import Role, operator_cli, system
from callroster.api.crm import router as crm_router
from callroster.config import Settings
from callroster.crm.destination import DestinationPolicy
from callroster.crm.webhook import WebhookSender
from callroster.store.store import Store

OPERATOR = operator_cli("test")
PATH = "/api/v1/account/crm-webhook"
TOKEN = "crmtok-0e6b5a94d1"
URL = f"https://crm.example/hooks/callroster?token={TOKEN}"
SECRET = "Sextant-Obelisk-Marmalade-9042"
PUBLIC = "93.184.216.34"  # what the made-up names resolve to: validated, never connected to
NAMES = {
    "crm.example": [PUBLIC],
    "other.example": [PUBLIC],
    "x.example": [PUBLIC],
    "intranet.example": ["10.20.30.40"],
    "metadata.example": ["169.254.169.254"],
}


def resolve(host: str, port: int) -> list[str]:
    """The test's resolver: the names above, and no other."""
    if host not in NAMES:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return NAMES[host]


def _app(store: Store, settings: Settings, policy: DestinationPolicy | None) -> FastAPI:
    # This app holds only what is tested.
    app = FastAPI()
    app.state.store = store
    app.state.settings = settings
    if policy is not None:
        app.state.crm_destinations = policy
    app.include_router(crm_router)
    return app


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(_app(store, settings, DestinationPolicy(resolve=resolve)))


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


# (URL, why it is refused): the forms of finding 8 of issue 12, and names resolving to them.
NOT_PUBLIC = [
    (f"http://127.0.0.1:8080/{TOKEN}", "is a loopback address"),
    (f"http://[::1]:8080/{TOKEN}", "is a loopback address"),
    (f"http://localhost:8080/{TOKEN}", "is a loopback address"),
    (f"https://169.254.169.254/latest/meta-data/{TOKEN}", "is a link-local address"),
    (f"https://[::ffff:a9fe:a9fe]/{TOKEN}", "is a link-local address"),
    (f"https://[fe80::1]/{TOKEN}", "is a link-local address"),
    (f"https://0x7f000001/{TOKEN}", "loopback address (this machine), written in a non-standard"),
    (f"https://2130706433/{TOKEN}", "loopback address (this machine), written in a non-standard"),
    (f"https://017700000001/{TOKEN}", "loopback address (this machine), written in a non-stand"),
    (f"https://10.0.0.1/{TOKEN}", "is a private address"),
    (f"https://[fc00::1]/{TOKEN}", "is a private address"),
    (f"https://100.64.0.1/{TOKEN}", "is a shared address"),
    (f"https://0.0.0.0/{TOKEN}", "is an unspecified address"),
    (f"https://224.0.0.1/{TOKEN}", "is a multicast address"),
    (f"https://255.255.255.255/{TOKEN}", "is the broadcast address"),
    (f"https://intranet.example/{TOKEN}", "resolves to a private address"),
    (f"https://metadata.example/{TOKEN}", "resolves to a link-local address"),
    (f"https://nowhere.example/{TOKEN}", "does not resolve"),
]


def test_non_public_destinations_are_422_saying_why_and_not_stored(
    client: TestClient, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    assert client.put(PATH, headers=admin, json={"url": URL, "secret": SECRET}).status_code == 200
    for url, why in NOT_PUBLIC:
        response = client.put(PATH, headers=admin, json={"url": url})
        assert response.status_code == 422, url
        assert why in response.json()["detail"], (url, response.json())
        assert TOKEN not in response.text
    assert client.get(PATH, headers=admin).json() == {"url": URL, "has_secret": True}
    # A public address, written as one, is stored (it is only validated: nothing connects).
    public = client.put(PATH, headers=admin, json={"url": f"https://{PUBLIC}/hooks/{TOKEN}"})
    assert public.status_code == 200


def test_the_operator_may_allow_private_targets_never_link_local(
    store: Store, settings: Settings, details: demo.DemoDetails
) -> None:
    """The rule comes from the service's settings (no policy of the test's own: the hosts
    here are addresses, which no resolver is asked about)."""
    admin = _bearer(details.admin_token)
    default = TestClient(_app(store, settings, None))
    assert not settings.crm_allow_private_targets  # off unless the operator turns it on
    for url in (f"http://127.0.0.1:8080/{TOKEN}", f"https://10.0.0.1/{TOKEN}"):
        assert default.put(PATH, headers=admin, json={"url": url}).status_code == 422
    allowing = settings.model_copy(update={"crm_allow_private_targets": True})
    operator_allows = TestClient(_app(store, allowing, None))
    for url in (f"http://127.0.0.1:8080/{TOKEN}", f"https://10.0.0.1/{TOKEN}"):
        assert operator_allows.put(PATH, headers=admin, json={"url": url}).status_code == 200
    for url in (f"https://169.254.169.254/{TOKEN}", f"https://[::ffff:a9fe:a9fe]/{TOKEN}"):
        refused = operator_allows.put(PATH, headers=admin, json={"url": url})
        assert refused.status_code == 422 and "link-local" in refused.json()["detail"]


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
    store: Store, settings: Settings, details: demo.DemoDetails
) -> None:
    """End to end: the administrator configures the webhook, the click-to-call side reads
    it as the system and sends a log, and the CRM checks it with the secret it was shown.
    The CRM listens on 127.0.0.1, which the operator allows here."""
    allowing = settings.model_copy(update={"crm_allow_private_targets": True})
    client = TestClient(_app(store, allowing, None))

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
            sender = WebhookSender(destinations=DestinationPolicy(allow_private=True))
            try:
                result = await sender.deliver(target, "call_1", {"duration_s": 61})
            finally:
                await sender.aclose()
            return result.delivered, receiver

    delivered, receiver = asyncio.run(scenario())
    assert delivered
    [request] = receiver.requests
    assert request.signature_ok
