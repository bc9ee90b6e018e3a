"""Joining from the browser through the API: who may, under which name, and leaving. The
browser is a real WebRTC peer (aiortc) against the bridge in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.web_client import WebClient

from callroster.accounts.actor import Role, operator_cli
from callroster.app import create_app

pytestmark = pytest.mark.interop
OPERATOR = operator_cli("test")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[BridgeHarness, httpx.AsyncClient]]:
    async with running_bridge(tmp_path / "data") as harness:
        app = create_app(harness.store, harness.settings, harness.services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callroster.test"
        ) as client:
            yield harness, client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _link(harness: BridgeHarness) -> str:
    return harness.demo.web_url.rsplit("/", 1)[1]


async def _join(
    client: httpx.AsyncClient, harness: BridgeHarness, credential: str, name: str
) -> tuple[httpx.Response, WebClient]:
    browser = WebClient(1000.0)
    response = await client.post(
        f"/api/v1/conferences/{harness.demo.conference_id}/web-legs",
        json={"name": name, "sdp": await browser.offer()},
        headers=_bearer(credential),
    )
    if response.status_code == 201:
        await browser.accept(response.json()["sdp"])
    return response, browser


async def test_a_guest_joins_by_name_and_leaves_with_its_key(
    live: tuple[BridgeHarness, httpx.AsyncClient],
) -> None:
    harness, client = live
    conference = harness.demo.conference_id
    legs_url = f"/api/v1/conferences/{conference}/legs"
    anonymous = await client.post(
        f"/api/v1/conferences/{conference}/web-legs", json={"name": "X", "sdp": "v=0"}
    )
    assert anonymous.status_code == 401
    other = harness.store.accounts.create_account(OPERATOR, "Elsewhere Ltd", "sydney")
    outsider = harness.store.accounts.create_user(OPERATOR, other, Role.HOST, "Out Sider")
    token = harness.store.tokens.issue(OPERATOR, other, outsider, {"roster:read"}, "t")
    refused, stranger = await _join(client, harness, token, "Out Sider")
    assert refused.status_code == 404
    await stranger.close()
    assert not harness.bridge.call_count()

    response, browser = await _join(client, harness, _link(harness), "  Gina   Guest ")
    assert response.status_code == 201, response.text
    joined = response.json()

    async def roster() -> list[dict[str, object]]:
        got = await client.get(legs_url, headers=_bearer(harness.demo.host_token))
        legs: list[dict[str, object]] = got.json()["legs"]
        return legs

    # On the roster once its audio arrives (its connection is up), not before.
    for _ in range(100):
        if await roster():
            break
        await asyncio.sleep(0.05)
    [leg] = await roster()
    assert leg["id"] == joined["leg_id"]
    assert (leg["name"], leg["name_source"], leg["joined_via"], leg["role"], leg["number"]) == (
        "Gina Guest",
        "entered",
        "web",
        "guest",
        None,
    )
    audited = harness.store.audit.entries(harness.demo.account_id, 30)
    assert ("web.join", f"leg:{joined['leg_id']}") in [(e.action, e.subject) for e in audited]

    for _ in range(100):  # connected (ICE and DTLS done), as a browser is before it leaves
        if browser.pc.connectionState == "connected":
            break
        await asyncio.sleep(0.05)
    leave = f"/api/v1/conferences/{conference}/web-legs/{joined['leg_id']}"
    mine = {"X-Leg-Key": joined["key"]}

    async def muted() -> bool:
        legs = (await client.get(legs_url, headers=_bearer(harness.demo.host_token))).json()
        return bool(legs["legs"][0]["muted"])

    # The browser mutes and unmutes itself; the roster shows it. Not with another's key.
    assert (await client.post(f"{leave}/mute", headers={"X-Leg-Key": "guess"})).status_code == 404
    assert not await muted()
    assert (await client.post(f"{leave}/mute", headers=mine)).json() == {"muted": True}
    assert await muted()
    assert (await client.post(f"{leave}/unmute", headers=mine)).json() == {"muted": False}
    assert not await muted()
    # After the host mutes it, only the host can unmute it.
    host = _bearer(harness.demo.host_token)
    assert (await client.post(f"{legs_url}/{joined['leg_id']}/mute", headers=host)).is_success
    refused = await client.post(f"{leave}/unmute", headers=mine)
    assert refused.status_code == 409 and "host" in refused.json()["detail"]
    assert await muted()
    assert (await client.delete(leave)).status_code == 404
    assert (await client.delete(leave, headers={"X-Leg-Key": "guess"})).status_code == 404
    assert harness.conference().leg(joined["leg_id"]).status == "connected"
    gone = await client.delete(leave, headers={"X-Leg-Key": joined["key"]})
    assert gone.status_code == 204
    assert harness.bridge.conferences_in_progress() == []  # the only leg left, so the call is over
    again = await client.delete(leave, headers={"X-Leg-Key": joined["key"]})
    assert again.status_code == 404
    for _ in range(100):
        if browser.pc.connectionState == "closed":
            break
        await asyncio.sleep(0.05)
    assert browser.pc.connectionState == "closed"
    await browser.close()


async def test_locked_blank_and_unusable_joins_are_refused_clearly(
    live: tuple[BridgeHarness, httpx.AsyncClient],
) -> None:
    harness, client = live
    conference = harness.demo.conference_id
    host, host_browser = await _join(client, harness, harness.demo.host_token, "Hannah Host")
    assert host.status_code == 201, host.text
    for _ in range(100):  # on the call once its audio arrives
        if harness.bridge.conference(conference) is not None:
            break
        await asyncio.sleep(0.05)
    assert harness.conference().leg(host.json()["leg_id"]).role == "host"
    locked = await client.post(
        f"/api/v1/conferences/{conference}/lock", headers=_bearer(harness.demo.host_token)
    )
    assert locked.status_code == 200
    refused, guest_browser = await _join(client, harness, _link(harness), "Gus Guest")
    assert refused.status_code == 423
    assert refused.json()["detail"] == "the host has locked this conference"
    blank, _ = await _join(client, harness, _link(harness), "   ")
    assert blank.status_code == 422
    no_audio = await client.post(
        f"/api/v1/conferences/{conference}/web-legs",
        json={"name": "Hannah Host", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"},
        headers=_bearer(harness.demo.host_token),
    )
    assert no_audio.status_code == 422
    # An offer over 64 Ki characters is refused by the route (422); a body over the route's
    # 128 KiB is refused before it is read whole (413, api/body_limit.py).
    for lines, status in ((14_000, 422), (30_000, 413)):
        too_big = await client.post(
            f"/api/v1/conferences/{conference}/web-legs",
            json={"name": "Big", "sdp": "v=0\r\n" + "a=x\r\n" * lines},
            headers=_bearer(harness.demo.host_token),
        )
        assert too_big.status_code == status, lines
    # Only the host's browser is on the call.
    assert len(harness.conference().present()) == 1 and harness.bridge.call_count() == 1
    await host_browser.close()
    await guest_browser.close()
