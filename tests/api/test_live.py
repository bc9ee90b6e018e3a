"""Live Call Status API against a running bridge with a real caller (sipp): the host sees the
leg, mutes, holds and drops it; others are refused; every control is audit-logged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.peers import run_sipp, sipp_tone_file
from tests.support.waiting import wait_until

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


async def _caller_on_the_call(harness: BridgeHarness, workdir: Path) -> asyncio.Task[object]:
    sipp_tone_file(workdir)
    task = asyncio.create_task(
        run_sipp(
            "refused", harness.sip_port, harness.demo.pin, workdir, keys={"caller": "+447700900777"}
        )
    )
    await wait_until(harness.bridge.conferences_in_progress, 10, "the caller to join")
    return task


async def test_host_sees_and_controls_a_live_caller(
    live: tuple[BridgeHarness, httpx.AsyncClient], tmp_path: Path
) -> None:
    harness, client = live
    conference = harness.demo.conference_id
    host = _bearer(harness.demo.host_token)
    caller = await _caller_on_the_call(harness, tmp_path)

    roster = (await client.get(f"/api/v1/conferences/{conference}/legs", headers=host)).json()
    [leg] = roster["legs"]
    assert (leg["number"], leg["status"], leg["joined_via"], leg["muted"]) == (
        "+447700900777",
        "connected",
        "dial_in",
        False,
    )
    assert leg["number_verified"] is False  # only sipp's From: anyone could have sent it
    url = f"/api/v1/conferences/{conference}/legs/{leg['id']}"

    muted = await client.post(f"{url}/mute", headers=host)
    assert muted.status_code == 200 and muted.json()["muted"] is True
    assert harness.conference().leg(leg["id"]).muted_by_host
    held = await client.post(f"{url}/hold", headers=host)
    assert held.json()["status"] == "on_hold"
    assert (await client.post(f"{url}/unhold", headers=host)).json()["status"] == "connected"
    renamed = await client.patch(url, headers=host, json={"name": "Bob from Legal"})
    assert (renamed.json()["name"], renamed.json()["name_source"]) == (
        "Bob from Legal",
        "published",
    )
    too_long = await client.patch(url, headers=host, json={"name": "x" * 81})
    assert too_long.status_code == 422
    reversed_name = await client.patch(url, headers=host, json={"name": "Bob \u202elageL"})
    assert reversed_name.status_code == 422 and "U+202E" in reversed_name.text
    assert harness.conference().leg(leg["id"]).name == "Bob from Legal"
    locked = await client.post(f"/api/v1/conferences/{conference}/lock", headers=host)
    assert locked.json()["locked"] is True

    dropped = await client.post(f"{url}/drop", headers=host)
    assert dropped.json()["status"] == "left"
    result = await caller
    assert result.returncode == 0  # type: ignore[attr-defined]  # sipp received our BYE

    actions = [e.action for e in harness.store.audit.entries(harness.demo.account_id, 30)]
    for action in (
        "control.mute",
        "control.hold",
        "control.unhold",
        "control.lock",
        "control.drop",
        "roster.read",  # reading who is on the call is a read of personal data
    ):
        assert action in actions
    # The last leg left: the call is over, so there is nothing to hold.
    again = await client.post(f"{url}/hold", headers=host)
    assert again.status_code == 404 and "not in progress" in again.json()["detail"]
    # The roster still tells who was on it.
    [gone] = (await client.get(f"/api/v1/conferences/{conference}/legs", headers=host)).json()[
        "legs"
    ]
    assert gone["status"] == "left" and gone["left_at"] is not None


async def test_who_may_see_and_control(
    live: tuple[BridgeHarness, httpx.AsyncClient], tmp_path: Path
) -> None:
    harness, client = live
    conference = harness.demo.conference_id
    caller = await _caller_on_the_call(harness, tmp_path)
    legs_url = f"/api/v1/conferences/{conference}/legs"
    assert (await client.get(legs_url)).status_code == 401
    assert (await client.get(legs_url, headers=_bearer("cr_forged"))).status_code == 401
    colleague = harness.store.accounts.create_user(
        OPERATOR, harness.demo.account_id, Role.HOST, "Other Host"
    )
    token = harness.store.tokens.issue(
        OPERATOR, harness.demo.account_id, colleague, {"roster:read"}, "t"
    )
    assert (await client.get(legs_url, headers=_bearer(token))).status_code == 403
    other = harness.store.accounts.create_account(OPERATOR, "Elsewhere Ltd", "sydney")
    outsider = harness.store.accounts.create_user(OPERATOR, other, Role.HOST, "Out Sider")
    token = harness.store.tokens.issue(OPERATOR, other, outsider, {"roster:read"}, "t")
    assert (await client.get(legs_url, headers=_bearer(token))).status_code == 404
    [leg] = (await client.get(legs_url, headers=_bearer(harness.demo.admin_token))).json()["legs"]
    mute = f"{legs_url}/{leg['id']}/mute"
    assert (await client.post(mute, headers=_bearer(token))).status_code == 404
    assert not harness.conference().leg(leg["id"]).muted
    unknown = f"{legs_url}/no-such-leg/mute"
    assert (await client.post(unknown, headers=_bearer(harness.demo.host_token))).status_code == 404
    harness.bridge.control(conference, "drop", leg["id"])
    await caller


async def test_websocket_snapshot_events_and_resume(tmp_path: Path) -> None:
    """A watcher gets the snapshot, then each change with its sequence number; reconnecting
    with ?since= gets only what it missed, in one message. Served by uvicorn, read by a real
    WS client."""
    import json
    import socket

    import uvicorn
    import websockets

    async with running_bridge(tmp_path / "data") as harness:
        app = create_app(harness.store, harness.settings, harness.services)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        base = f"ws://127.0.0.1:{port}/api/v1/conferences/{harness.demo.conference_id}/live"
        try:
            headers = {"Authorization": f"Bearer {harness.demo.host_token}"}
            async with websockets.connect(base, additional_headers=headers) as ws:
                [snapshot] = json.loads(await ws.recv())  # each message is an array
                assert (snapshot["type"], snapshot["seq"], snapshot["legs"]) == ("snapshot", 0, [])
                caller = await _caller_on_the_call(harness, tmp_path)
                [joined] = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert (joined["seq"], joined["event"]) == (1, "joined")
                assert joined["leg"]["number"] == "+447700900777"
                leg_id = joined["leg"]["id"]
            # Disconnected; meanwhile the host mutes the caller and locks the call.
            harness.bridge.control(harness.demo.conference_id, "mute", leg_id)
            harness.bridge.control(harness.demo.conference_id, "lock")
            async with websockets.connect(f"{base}?since=1", additional_headers=headers) as ws:
                resumed = json.loads(await asyncio.wait_for(ws.recv(), 5))  # both at once
            assert [(m["seq"], m["event"]) for m in resumed] == [(2, "muted"), (3, "locked")]
            watches = [
                e
                for e in harness.store.audit.entries(harness.demo.account_id, 50)
                if e.action == "roster.watch"
            ]
            assert len(watches) == 2  # each watcher that opened the roster is in the audit log
            assert watches[0].subject == f"conference:{harness.demo.conference_id}"
            forged = {"Authorization": "Bearer cr_forged"}
            for bad, sent in ((base, {}), (base, forged)):
                with pytest.raises(websockets.exceptions.InvalidStatus):
                    async with websockets.connect(bad, additional_headers=sent) as ws:
                        await ws.recv()
            # The token in the URL (where proxies log it) is refused, with the reason.
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as closed:
                async with websockets.connect(f"{base}?token={harness.demo.host_token}") as ws:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
            harness.bridge.control(harness.demo.conference_id, "drop", leg_id)
            await caller
        finally:
            server.should_exit = True
            await serving


async def test_guests_watch_with_the_link_and_never_control(
    live: tuple[BridgeHarness, httpx.AsyncClient], tmp_path: Path
) -> None:
    harness, client = live
    conference = harness.demo.conference_id
    link = harness.demo.web_url.rsplit("/", 1)[1]
    caller = await _caller_on_the_call(harness, tmp_path)
    legs_url = f"/api/v1/conferences/{conference}/legs"
    guest = _bearer(link)
    # A new account hides numbers from guests (confidential calls): the leg, not the number.
    [leg] = (await client.get(legs_url, headers=guest)).json()["legs"]
    assert leg["number"] is None and leg["status"] == "connected"
    assert (await client.post(f"{legs_url}/{leg['id']}/mute", headers=guest)).status_code == 403
    assert (
        await client.post(f"/api/v1/conferences/{conference}/lock", headers=guest)
    ).status_code == 403
    # Once an administrator shows numbers to guests, the guest sees it.
    harness.store.accounts.update_settings(
        OPERATOR, harness.demo.account_id, show_numbers_to_guests=True
    )
    [shown] = (await client.get(legs_url, headers=guest)).json()["legs"]
    assert shown["number"] == "+447700900777" and shown["id"] == leg["id"]
    host_view = (await client.get(legs_url, headers=_bearer(harness.demo.host_token))).json()
    assert host_view["legs"][0]["number"] == "+447700900777"
    # A link opens its own conference only.
    other = harness.store.conferences.create_conference(
        OPERATOR,
        harness.store.accounts.find_user_ids_by_email("host@demo-llp.example")[0],
        "Another call",
    )
    assert (await client.get(f"/api/v1/conferences/{other}/legs", headers=guest)).status_code == 404
    assert (await client.get(legs_url, headers=_bearer("not-a-link"))).status_code == 401
    harness.bridge.control(conference, "drop", leg["id"])
    await caller


async def test_host_mute_through_the_api_stops_the_callers_audio(tmp_path: Path) -> None:
    """A talker (sipp, 1 kHz) and a listener (baresip, recording): after the host mutes the
    talker through the API, the listener no longer hears the tone."""
    from tests.support import audio
    from tests.support.audio import tone_flags
    from tests.support.callers import listener_joins

    async with running_bridge(tmp_path / "data") as harness:
        app = create_app(harness.store, harness.settings, harness.services)
        listener = await listener_joins(harness, tmp_path, seconds=30)
        # Real timing: the listener's own "joining" prompt plays for about 2 s, and a prompt
        # is heard instead of the mix, so the talker starts once it is over.
        await asyncio.sleep(2)
        sipp_tone_file(tmp_path)
        talker = asyncio.create_task(
            run_sipp(
                "direct_then_mute",
                harness.sip_port,
                harness.demo.pin,
                tmp_path,
                keys={"caller": "+447700900444"},
                duration_ms=5000,
            )
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callroster.test"
        ) as client:
            host = _bearer(harness.demo.host_token)
            url = f"/api/v1/conferences/{harness.demo.conference_id}/legs"
            found: list[dict[str, str]] = []

            async def talker_shown() -> bool:
                legs = (await client.get(url, headers=host)).json()["legs"]
                found.extend(g for g in legs if g["number"] == "+447700900444")
                return bool(found)

            for _ in range(200):
                if await talker_shown():
                    break
                await asyncio.sleep(0.05)
            assert found, "the talker never showed in the roster"
            talker_leg = found[0]
            await asyncio.sleep(3)  # real timing: the listener hears the tone...
            muted = await client.post(f"{url}/{talker_leg['id']}/mute", headers=host)
            assert muted.status_code == 200
        result = await talker  # ...it keeps talking (then presses *6, refused: host muted)
        assert result.returncode == 0
        await listener.hang_up()
        heard = audio.read_wav(listener.heard())
    flags = tone_flags(heard, 1000)
    first, last = flags.index(True), len(flags) - 1 - flags[::-1].index(True)
    assert 4 <= last - first <= 9 and not any(flags[last + 1 :]), flags
    assert len(flags) - last > 8, flags  # at least 4 s of the talker, muted, unheard
