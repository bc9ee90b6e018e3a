"""Issue 12, finding 2: who joins a call with audio, as whom, and who reads its PINs.

Each kind of credential against ``POST …/web-legs`` and ``GET /conferences/{id}``, with the
ones that must be allowed beside the ones refused (positive controls). The browser is a real
WebRTC peer (aiortc) against the bridge in-process; the permission matrix
(``test_permission_matrix.py``) holds the status codes, this file what each caller gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.waiting import wait_until
from tests.support.web_client import WebClient

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.app import create_app
from callroster.store.sessions import csrf_token_for

pytestmark = pytest.mark.interop
OPERATOR = operator_cli("test")
KEYS = ("roster:read", "legs:control", "recordings:read", "admin")


@dataclass
class World:
    harness: BridgeHarness
    client: httpx.AsyncClient
    bearer: dict[str, str]  # kind of caller -> bearer credential
    session: str  # the host's session cookie


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bridge(tmp_path / "data") as harness:
        store, demo = harness.store, harness.demo
        account = demo.account_id
        view = store.conferences.get_conference(OPERATOR, demo.conference_id)
        delegate = store.accounts.create_user(OPERATOR, account, Role.DELEGATE, "Del Egate")
        store.accounts.delegate(OPERATOR, view.host_id, delegate)
        bearer = {
            "guest": view.web_link,
            "host": demo.host_token,
            "host_read_only": store.tokens.issue(
                OPERATOR, account, view.host_id, {"roster:read"}, "host, read only"
            ),
            "delegate": store.tokens.issue(
                OPERATOR, account, delegate, {"roster:read", "legs:control"}, "delegate"
            ),
            "administrator": demo.admin_token,
        }
        for scope in KEYS:
            bearer[f"key {scope}"] = store.tokens.issue(OPERATOR, account, None, {scope}, scope)
        signed_in = Actor(view.host_id, Role.HOST, account, "127.0.0.1", "sign-in")
        session = store.web_sessions.create(
            signed_in, view.host_id, stay_signed_in=False, second_factor_done=True
        )
        app = create_app(store, harness.settings, harness.services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callroster.test"
        ) as client:
            yield World(harness, client, bearer, session)


def _headers(world: World, who: str) -> dict[str, str]:
    if who == "host_session":
        world.client.cookies.set("callroster_session", world.session)
        return {"X-CSRF-Token": csrf_token_for(world.session)}
    world.client.cookies.clear()
    return {"Authorization": f"Bearer {world.bearer[who]}"}


async def _join(world: World, who: str, browsers: list[WebClient]) -> httpx.Response:
    browser = WebClient(1000.0)
    browsers.append(browser)
    response = await world.client.post(
        f"/api/v1/conferences/{world.harness.demo.conference_id}/web-legs",
        json={"name": f"Calling Myself Host ({who})", "sdp": await browser.offer()},
        headers=_headers(world, who),
    )
    if response.status_code == 201:
        await browser.accept(response.json()["sdp"])
        leg_id = response.json()["leg_id"]
        # On the call once its audio arrives (bridge/web_legs.py).
        await wait_until(lambda: leg_id in _roles(world), 10, "the browser on the call")
    return response


def _roles(world: World) -> dict[str, str]:
    conference = world.harness.bridge.conference(world.harness.demo.conference_id)
    if conference is None:
        return {}
    return {leg.id: leg.role for leg in conference.present()}


async def test_a_leg_has_the_role_of_the_person_and_a_key_never_joins(world: World) -> None:
    browsers: list[WebClient] = []
    try:
        # Every API key is refused, whatever its scopes, and nothing is on the call.
        for scope in KEYS:
            refused = await _join(world, f"key {scope}", browsers)
            assert refused.status_code == 403, (scope, refused.text)
            assert "an API key cannot join a call" in refused.json()["detail"]
        # A token of the host that may only read does not join either.
        read_only = await _join(world, "host_read_only", browsers)
        assert read_only.status_code == 403 and "legs:control" in read_only.json()["detail"]
        assert world.harness.bridge.call_count() == 0

        # Positive controls: people join, each as who they are.
        expected = {
            "guest": "guest",
            "delegate": "guest",
            "administrator": "guest",
            "host": "host",
            "host_session": "host",
        }
        for who, role in expected.items():
            joined = await _join(world, who, browsers)
            assert joined.status_code == 201, (who, joined.text)
            assert _roles(world)[joined.json()["leg_id"]] == role, who
        assert world.harness.bridge.call_count() == len(expected)
    finally:
        for browser in browsers:
            await browser.close()


async def test_a_locked_conference_refuses_everyone_but_its_host(world: World) -> None:
    browsers: list[WebClient] = []
    conference = world.harness.demo.conference_id
    try:
        host = await _join(world, "host", browsers)
        assert host.status_code == 201, host.text
        locked = await world.client.post(
            f"/api/v1/conferences/{conference}/lock", headers=_headers(world, "host")
        )
        assert locked.status_code == 200, locked.text
        for who in ("guest", "delegate", "administrator"):
            refused = await _join(world, who, browsers)
            assert refused.status_code == 423, (who, refused.text)
        for scope in KEYS:
            assert (await _join(world, f"key {scope}", browsers)).status_code == 403
        assert list(_roles(world).values()) == ["host"]
        # Positive control: the host, signed in from another browser, still joins, as host.
        again = await _join(world, "host_session", browsers)
        assert again.status_code == 201, again.text
        assert sorted(_roles(world).values()) == ["host", "host"]
    finally:
        for browser in browsers:
            await browser.close()


async def test_the_join_secrets_go_to_the_people_who_run_the_conference(world: World) -> None:
    demo = world.harness.demo
    url = f"/api/v1/conferences/{demo.conference_id}"
    link = demo.web_url.rsplit("/", 1)[1]
    # who -> (PIN, host PIN, link) shown
    expected = {
        "host": (True, True, True),
        "host_session": (True, True, True),
        "administrator": (True, True, True),
        "delegate": (True, False, True),
        "host_read_only": (False, False, False),
        **{f"key {scope}": (False, False, False) for scope in KEYS},
    }
    for who, (pin, host_pin, web_url) in expected.items():
        response = await world.client.get(url, headers=_headers(world, who))
        if who in ("key legs:control", "key recordings:read"):
            assert response.status_code == 403, who  # without roster:read it reads nothing
            continue
        assert response.status_code == 200, (who, response.text)
        body = response.json()
        # Secrets are absent from the whole body, not only from their fields.
        assert (demo.pin in response.text, body["pin"] == demo.pin) == (pin, pin), who
        assert (demo.host_pin in response.text, body["host_pin"] == demo.host_pin) == (
            host_pin,
            host_pin,
        ), who
        assert (link in response.text, body["web_url"] == demo.web_url) == (web_url, web_url), who
        assert body["dial_in_numbers"] == [demo.dial_in_number], who
    guest = await world.client.get(url, headers=_headers(world, "guest"))
    assert guest.status_code == 403


async def test_a_new_pin_is_for_people_who_may_control_the_call(world: World) -> None:
    url = f"/api/v1/conferences/{world.harness.demo.conference_id}/pin"
    for scope in ("legs:control", "admin"):
        refused = await world.client.post(url, headers=_headers(world, f"key {scope}"))
        assert refused.status_code == 403 and "API key" in refused.json()["detail"], scope
    assert world.harness.store.conferences.get_conference(
        OPERATOR, world.harness.demo.conference_id
    ).pin == (world.harness.demo.pin)
    for who in ("host", "delegate", "host_session"):
        renewed = await world.client.post(url, headers=_headers(world, who))
        assert renewed.status_code == 200, (who, renewed.text)
        assert renewed.json()["pin"] != world.harness.demo.pin


async def test_a_hosts_conference_history_shows_pins_to_administrators_not_keys(
    world: World,
) -> None:
    demo = world.harness.demo
    host_id = world.harness.store.conferences.get_conference(OPERATOR, demo.conference_id).host_id
    url = f"/api/v1/account/users/{host_id}/conferences"
    key = await world.client.get(url, headers=_headers(world, "key admin"))
    assert key.status_code == 200, key.text
    [row] = key.json()
    assert (row["id"], row["pin"], row["web_link"]) == (demo.conference_id, None, None)
    assert demo.pin not in key.text
    # Positive control: the administrator, a person, sees them.
    admin = await world.client.get(url, headers=_headers(world, "administrator"))
    [row] = admin.json()
    assert (row["pin"], row["web_link"]) == (demo.pin, demo.web_url.rsplit("/", 1)[1])
