"""Who may call what: every API route × every kind of caller → what they get.

The matrix below is data. The routes are read from the app's own OpenAPI description, so a
route added without a row here fails ``test_every_route_has_a_row``. Each cell is what the
caller meets:

- ``401``: no credential, or one that is not valid here;
- ``403``: known, but not allowed (wrong role, or an API key without the scope);
- ``hidden``: 404 "no such conference / account / browser leg": the caller does not learn
  that the thing exists;
- ``ok``: the route did its work for this caller (any other answer: 2xx, or a 404 for a leg
  not on the call, 409 or 422 about the request itself).

The app is the service's own, with a real bridge running (no call in progress), the demo
account and a second account; requests go through the ASGI app in-process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute
from tests.support.bridge import BridgeHarness, running_bridge

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.app import create_app
from callroster.store.sessions import csrf_token_for

OPERATOR = operator_cli("test")
ROLES = (
    "anonymous",
    "guest",
    "host",
    "other_host",
    "delegate",
    "administrator",
    "other_admin",
    "key_roster_read",
    "key_legs_control",
    "key_recordings_read",
    "key_admin",
    "operator",
    "host_session",
)
HIDDEN = {"no such conference", "no such account", "no such browser leg"}


def _row(default: str, **cells: str) -> dict[str, str]:
    row = {role: default for role in ROLES}
    row.update(cells)
    return row


# Reading a conference: its host, the host's delegates, administrators of its account and
# account keys with roster:read; another account never learns it exists.
READ = _row(
    "403",
    anonymous="401",
    host="ok",
    delegate="ok",
    administrator="ok",
    other_admin="hidden",
    key_roster_read="ok",
    key_admin="ok",
    host_session="ok",
)
GUEST_READ = {**READ, "guest": "ok"}
# Controlling legs: the same people, with legs:control.
CONTROL = {**READ, "key_roster_read": "403", "key_legs_control": "ok"}
GUEST_DIAL = {**CONTROL, "guest": "ok"}  # "we call you"
# Joining with audio is for people: the guest's link, or a user who runs the conference with
# legs:control (the host as host, others as guests); never an account's API key.
WEB_JOIN = {
    **CONTROL,
    "guest": "ok",
    **{
        k: "403"
        for k in ("key_roster_read", "key_legs_control", "key_recordings_read", "key_admin")
    },
}
# A new PIN comes back in the answer: people who may control the call, no API key.
PIN_RESET = {**CONTROL, "key_legs_control": "403", "key_admin": "403"}
# An invitation holds the guest PIN and the room link: the same people, no API key.
INVITATION = PIN_RESET
# The account's administration: administrators and keys with admin.
ADMIN = _row("403", anonymous="401", administrator="ok", other_admin="ok", key_admin="ok")
OPERATOR_ONLY = _row("403", anonymous="401", operator="ok", host_session="401")
# Contacts: administrators and hosts of the caller's own account (not delegates).
CONTACTS = _row(
    "403",
    anonymous="401",
    host="ok",
    other_host="ok",
    administrator="ok",
    other_admin="ok",
    key_legs_control="ok",
    key_admin="ok",
    host_session="ok",
)
# Click-to-call rings the user's own phone: users only, never an account's key.
CALLS = _row(
    "ok",
    anonymous="401",
    guest="403",
    operator="403",
    **{
        k: "403"
        for k in ("key_roster_read", "key_legs_control", "key_recordings_read", "key_admin")
    },
)
ME = _row("ok", anonymous="401", operator="403")
# Changing one's own profile: users only (a key is nobody's).
PROFILE = {**CALLS}
# Authorising delegates: hosts and administrators, for themselves; never a delegate.
DELEGATES = {**CALLS, "delegate": "403"}
SESSION = _row("401", host_session="ok")
LEG_KEY = _row("hidden")  # only the browser holding the leg's X-Leg-Key
# The same, for a route with a body: no X-Leg-Key at all is refused (401) before the body is
# read (tests/api/test_credentials_first.py); another leg's key still gets 404.
LEG_KEY_WITH_BODY = _row("401")
OPEN = _row("ok")  # liveness and readiness: anyone, and they say nothing of anyone
# /metrics: every caller here comes from loopback (the in-process client is 127.0.0.1), which
# may scrape without a token; from any other network it is OPERATOR_ONLY, and a request that
# came through an untrusted proxy is not loopback (tests/api/test_metrics.py).
SCRAPE = _row("ok")
# Creating a conference answers its PINs: people who may run one (a host or administrator for
# themselves, a delegate for the host who authorised them), never an account's key.
CREATE_CONFERENCE = _row(
    "403",
    anonymous="401",
    host="ok",
    other_host="ok",
    delegate="ok",
    administrator="ok",
    other_admin="ok",
    host_session="ok",
)

C = "/api/v1/conferences/{conference_id}"
MATRIX: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/v1/me"): ME,
    ("GET", "/api/v1/session"): SESSION,
    ("GET", C): READ,
    ("GET", f"{C}/legs"): GUEST_READ,
    ("POST", f"{C}/live/tickets"): GUEST_READ,  # whoever may watch the roster live
    ("POST", f"{C}/legs"): GUEST_DIAL,
    ("PATCH", f"{C}/legs/{{leg_id}}"): CONTROL,
    **{("POST", f"{C}/legs/{{leg_id}}/{a}"): CONTROL for a in ("mute", "unmute", "hold")},
    **{("POST", f"{C}/legs/{{leg_id}}/{a}"): CONTROL for a in ("unhold", "drop")},
    **{("POST", f"{C}/{a}"): CONTROL for a in ("lock", "unlock", "mute-all")},
    ("POST", f"{C}/web-legs"): WEB_JOIN,
    ("POST", "/api/v1/conferences"): CREATE_CONFERENCE,
    ("PATCH", C): CONTROL,
    ("DELETE", C): CONTROL,  # each caller tries a conference of its own (FRESH_CONFERENCE)
    ("POST", f"{C}/web-legs/{{leg_id}}/mute"): LEG_KEY,
    ("POST", f"{C}/web-legs/{{leg_id}}/unmute"): LEG_KEY,
    ("DELETE", f"{C}/web-legs/{{leg_id}}"): LEG_KEY,
    ("PUT", f"{C}/web-legs/{{leg_id}}/profile"): LEG_KEY_WITH_BODY,
    ("DELETE", f"{C}/web-legs/{{leg_id}}/profile"): LEG_KEY,
    ("POST", "/api/v1/contacts"): CONTACTS,
    ("POST", "/api/v1/calls"): CALLS,
    ("GET", "/api/v1/account/crm-webhook"): ADMIN,
    ("PUT", "/api/v1/account/crm-webhook"): ADMIN,
    ("DELETE", "/api/v1/account/crm-webhook"): ADMIN,
    ("GET", "/api/v1/account/api-keys"): ADMIN,
    ("POST", "/api/v1/account/api-keys"): ADMIN,
    ("DELETE", "/api/v1/account/api-keys/{key_id}"): ADMIN,
    ("GET", "/api/v1/account/audit"): ADMIN,
    ("GET", "/api/v1/account/pin-lengths"): ADMIN,
    ("PUT", "/api/v1/account/pin-lengths"): ADMIN,
    ("GET", "/api/v1/account/srtp"): ADMIN,
    ("PUT", "/api/v1/account/srtp"): ADMIN,
    ("GET", "/api/v1/account/users"): ADMIN,
    ("POST", "/api/v1/account/users"): ADMIN,
    ("GET", "/api/v1/account/users/{user_id}"): ADMIN,
    ("PATCH", "/api/v1/account/users/{user_id}"): ADMIN,
    ("DELETE", "/api/v1/account/users/{user_id}"): ADMIN,
    ("POST", "/api/v1/account/users/{user_id}/suspend"): ADMIN,
    ("POST", "/api/v1/account/users/{user_id}/resume"): ADMIN,
    ("GET", "/api/v1/account/users/{user_id}/conferences"): ADMIN,
    ("DELETE", "/api/v1/account/contacts"): ADMIN,
    ("DELETE", "/api/v1/account/conferences/{conference_id}/history"): {
        **ADMIN,
        "other_admin": "hidden",
    },
    ("PATCH", "/api/v1/me"): PROFILE,
    ("GET", "/api/v1/me/delegates"): DELEGATES,
    ("POST", "/api/v1/me/delegates"): DELEGATES,
    ("DELETE", "/api/v1/me/delegates/{user_id}"): DELEGATES,
    ("POST", f"{C}/pin"): PIN_RESET,
    ("GET", f"{C}/invitation"): INVITATION,
    ("GET", f"{C}/invitation.ics"): INVITATION,
    ("POST", f"{C}/invitation/emails"): INVITATION,
    ("GET", f"{C}/invitation/emails"): INVITATION,
    ("GET", "/api/v1/operator/trunks"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/trunks"): OPERATOR_ONLY,
    ("DELETE", "/api/v1/operator/trunks/{name}"): OPERATOR_ONLY,
    ("GET", "/api/v1/operator/numbers"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/numbers"): OPERATOR_ONLY,
    ("DELETE", "/api/v1/operator/numbers/{number}"): OPERATOR_ONLY,
    ("PUT", "/api/v1/operator/accounts/{account_id}/numbers"): OPERATOR_ONLY,
    ("GET", "/api/v1/operator/audit"): OPERATOR_ONLY,
    ("GET", "/api/v1/operator/accounts"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/accounts"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/accounts/{account_id}/suspend"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/accounts/{account_id}/resume"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/accounts/{account_id}/terminate"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/accounts/{account_id}/setup-link"): OPERATOR_ONLY,
    ("GET", "/api/v1/operator/requests"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/requests/{request_id}/approve"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/requests/{request_id}/refuse"): OPERATOR_ONLY,
    ("GET", "/api/v1/operator/legal-holds"): OPERATOR_ONLY,
    ("POST", "/api/v1/operator/legal-holds"): OPERATOR_ONLY,
    ("DELETE", "/api/v1/operator/legal-holds/{hold_id}"): OPERATOR_ONLY,
    ("GET", "/api/v1/operator/consent-records"): OPERATOR_ONLY,
    ("GET", "/api/v1/consent/public-key"): OPEN,
    ("GET", "/api/v1/consent/public-keys"): OPEN,
    # Tell a Friend: a person invites in their own name; never an account's key.
    ("POST", "/api/v1/friend-invitations"): CALLS,
    ("GET", "/api/v1/operator/metrics"): OPERATOR_ONLY,
    ("GET", "/metrics"): SCRAPE,
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
}
# WebSockets are not in OpenAPI; their rules are proven in tests/api/test_live.py.
WEBSOCKETS = {f"{C}/live"}
# Routes that use up their conference: each caller is given a new one of the demo's host.
FRESH_CONFERENCE = {("DELETE", C)}

# What each request sends: valid bodies, so that validation never answers before the rules.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", f"{C}/legs"): {"json": {"number": "+442079460123", "name": "Matrix Guest"}},
    ("PATCH", f"{C}/legs/{{leg_id}}"): {"json": {"name": "Renamed"}},
    ("POST", f"{C}/web-legs"): {"json": {"name": "Matrix Browser", "sdp": "v=0"}},
    ("PUT", f"{C}/web-legs/{{leg_id}}/profile"): {"json": {"url": "https://example.org/m"}},
    ("POST", "/api/v1/contacts"): {
        "content": b"name,phone\nMatrix Contact,+447700900999\n",
        "headers": {"Content-Type": "text/csv"},
    },
    ("POST", "/api/v1/calls"): {"json": {"number": "+442079460124"}},
    # A public address, not a name: the route resolves the host, and no test asks DNS.
    ("PUT", "/api/v1/account/crm-webhook"): {"json": {"url": "https://93.184.216.34/hook"}},
    ("POST", "/api/v1/account/api-keys"): {"json": {"label": "matrix", "scopes": ["roster:read"]}},
    ("PUT", "/api/v1/account/pin-lengths"): {"json": {"guest": 8, "host": 10}},
    ("PUT", "/api/v1/account/srtp"): {"json": {"srtp": "offered"}},
    ("POST", "/api/v1/account/users"): {"json": {"role": "host", "name": "Matrix Host"}},
    ("PATCH", "/api/v1/account/users/{user_id}"): {"json": {"name": "Nobody"}},
    ("PATCH", "/api/v1/me"): {"json": {"phone": "+447700900321"}},
    ("POST", "/api/v1/me/delegates"): {"json": {"user_id": "no-such-user"}},
    ("POST", "/api/v1/operator/trunks"): {
        "json": {"name": "matrix", "uri": "sip:127.0.0.1:5099", "prefixes": ["+1"]}
    },
    ("POST", f"{C}/invitation/emails"): {"json": {"addresses": ["matrix.guest@example.org"]}},
    ("POST", "/api/v1/friend-invitations"): {
        "json": {"email": "matrix.friend@example.org", "over_18": True}
    },
    ("POST", "/api/v1/operator/accounts"): {
        "json": {"name": "Matrix Ltd", "region": "london", "admin_email": "matrix@example.com"}
    },
    ("POST", "/api/v1/conferences"): {"json": {"title": "Matrix call"}},
    ("PATCH", C): {"json": {"title": "Demo conference"}},
    ("POST", "/api/v1/operator/numbers"): {"json": {"number": "+442079460999"}},
    ("PUT", "/api/v1/operator/accounts/{account_id}/numbers"): {"json": {"numbers": []}},
    ("POST", "/api/v1/operator/requests/{request_id}/refuse"): {"json": {"reason": "matrix"}},
    ("POST", "/api/v1/operator/legal-holds"): {
        "json": {"kind": "account", "target_id": "no-such-account", "reason": "matrix"}
    },
}


@dataclass
class World:
    harness: BridgeHarness
    app: FastAPI
    client: httpx.AsyncClient
    credentials: dict[str, dict[str, str]]  # role -> headers (and cookies, see below)
    session_token: str


def _user_token(harness: BridgeHarness, account_id: str, role: Role, name: str) -> str:
    user = harness.store.accounts.create_user(OPERATOR, account_id, role, name)
    return harness.store.tokens.issue(
        OPERATOR, account_id, user, {"roster:read", "legs:control"}, name
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bridge(tmp_path / "data") as harness:
        store, demo = harness.store, harness.demo
        account = demo.account_id
        other = store.accounts.create_account(OPERATOR, "Elsewhere Ltd", "sydney")
        other_admin = store.accounts.create_user(OPERATOR, other, Role.ADMINISTRATOR, "Oz Admin")
        delegate = store.accounts.create_user(OPERATOR, account, Role.DELEGATE, "Del Egate")
        host_id = store.conferences.get_conference(OPERATOR, demo.conference_id).host_id
        store.accounts.delegate(OPERATOR, host_id, delegate)
        bearer = {
            "guest": store.conferences.get_conference(OPERATOR, demo.conference_id).web_link,
            "host": demo.host_token,
            "other_host": _user_token(harness, account, Role.HOST, "Other Host"),
            "delegate": store.tokens.issue(
                OPERATOR, account, delegate, {"roster:read", "legs:control"}, "delegate"
            ),
            "administrator": demo.admin_token,
            "other_admin": store.tokens.issue(OPERATOR, other, other_admin, {"admin"}, "oz"),
            "operator": store.operator_tokens.issue(OPERATOR, "matrix")[1],
        }
        for scope in ("roster:read", "legs:control", "recordings:read", "admin"):
            role = "key_" + scope.replace(":", "_")
            bearer[role] = store.tokens.issue(OPERATOR, account, None, {scope}, role)
        signed_in = Actor(host_id, Role.HOST, account, "127.0.0.1", "sign-in")
        session = store.web_sessions.create(
            signed_in, host_id, stay_signed_in=False, second_factor_done=True
        )
        credentials = {role: {"Authorization": f"Bearer {token}"} for role, token in bearer.items()}
        credentials["anonymous"] = {}
        credentials["host_session"] = {"X-CSRF-Token": csrf_token_for(session)}
        app = create_app(store, harness.settings, harness.services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callroster.test"
        ) as client:
            yield World(harness, app, client, credentials, session)


def _outcome(response: httpx.Response) -> str:
    if response.status_code in (401, 403):
        detail = response.json().get("detail")
        # A blocked number is refused with 403 too, but that is about the number.
        if detail != "calls to this number are not allowed":
            return str(response.status_code)
    if response.status_code == 404 and response.json().get("detail") in HIDDEN:
        return "hidden"
    assert response.status_code < 500, response.text
    return "ok"


def _all_routes(routes: list[Any]) -> list[Any]:
    """Routes, with those of included routers (``original_router``) walked into."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found.extend(_all_routes(inner.routes) if inner is not None else [route])
    return found


async def test_every_route_has_a_row(world: World) -> None:
    app = world.app
    spec = app.openapi()
    routes = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert routes == set(MATRIX), (
        f"routes without a row: {sorted(routes - set(MATRIX))}; "
        f"rows without a route: {sorted(set(MATRIX) - routes)}"
    )
    websockets = {r.path for r in _all_routes(app.routes) if isinstance(r, APIWebSocketRoute)}
    assert websockets == WEBSOCKETS
    for row in MATRIX.values():
        assert set(row) == set(ROLES)


async def test_every_caller_gets_what_the_matrix_says(world: World) -> None:
    conference = world.harness.demo.conference_id
    got: dict[tuple[str, str], dict[str, str]] = {}
    for (method, path), expected in MATRIX.items():
        url = path.format(
            conference_id=conference,
            leg_id="no-such-leg",
            key_id="no-such-key",
            name="none",
            user_id="no-such-user",
            number="+442079460998",
            account_id="no-such-account",
            request_id="no-such-request",
            hold_id="no-such-hold",
        )
        got[(method, path)] = {}
        for role in ROLES:
            if (method, path) in FRESH_CONFERENCE:
                conferences = world.harness.store.conferences
                host_id = conferences.get_conference(OPERATOR, conference).host_id
                fresh = conferences.create_conference(OPERATOR, host_id, "Gone")
                url = path.format(conference_id=fresh)
            body = BODIES.get((method, path), {})
            headers = {**world.credentials[role], **body.get("headers", {})}
            cookies = {"callroster_session": world.session_token} if role == "host_session" else {}
            world.client.cookies.clear()
            world.client.cookies.update(cookies)
            response = await world.client.request(
                method,
                url,
                headers=headers,
                json=body.get("json"),
                content=body.get("content"),
            )
            got[(method, path)][role] = _outcome(response)
        mismatches = {
            role: (want, got[(method, path)][role])
            for role, want in expected.items()
            if got[(method, path)][role] != want
        }
        assert not mismatches, f"{method} {path}: role -> (expected, got): {mismatches}"


async def test_an_account_key_acts_within_its_scopes_only(world: World) -> None:
    """A key with roster:read reads every conference of its account but controls none; the
    same conference from another account's key is hidden."""
    conference = world.harness.demo.conference_id
    reader = world.credentials["key_roster_read"]
    assert (
        await world.client.get(f"/api/v1/conferences/{conference}/legs", headers=reader)
    ).status_code == 200
    lock = await world.client.post(f"/api/v1/conferences/{conference}/lock", headers=reader)
    assert lock.status_code == 403 and "legs:control" in lock.json()["detail"]
