"""Dial-out through the API and a trunk: the host adds a guest by number; the carrier (sipp)
challenges for digest credentials, the callee presses 1 and is heard by a phone on the call
(baresip). Who may dial, blocked and impossible numbers, and the "we call you" limits."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.support import audio
from tests.support.audio import describe, tone_windows
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.callers import listener_joins
from tests.support.peers import free_udp_port, require, sipp_tone_file
from tests.support.waiting import until, wait_until

from callroster.accounts.actor import Role, operator_cli
from callroster.app import create_app
from callroster.store.call_records import CallRecordView

pytestmark = pytest.mark.interop
OPERATOR = operator_cli("test")
SCENARIOS = Path(__file__).parents[1] / "interop" / "scenarios"


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[BridgeHarness, httpx.AsyncClient]]:
    async with running_bridge(tmp_path / "data") as harness:
        settings = harness.settings.model_copy(update={"call_me_per_address": 2})
        app = create_app(harness.store, settings, harness.services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callroster.test"
        ) as client:
            yield harness, client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _link(harness: BridgeHarness) -> str:
    return harness.demo.web_url.rsplit("/", 1)[1]


async def test_the_host_adds_a_guest_through_a_trunk_that_wants_credentials(
    live: tuple[BridgeHarness, httpx.AsyncClient], tmp_path: Path
) -> None:
    harness, client = live
    carrier_port = free_udp_port()
    harness.store.trunks.add(
        OPERATOR,
        "carrier",
        f"sip:127.0.0.1:{carrier_port}",
        username="callroster",
        password="s3cret-trunk",
        prefixes=["+44"],
    )
    sipp_tone_file(tmp_path)
    carrier = subprocess.Popen(
        [
            require("sipp"),
            "-sf",
            str(SCENARIOS / "uas_digest_join.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(carrier_port),
            "-mp",
            str(free_udp_port(pair=True, span=4)),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "60s",
            "-key",
            "realm",
            "carrier.test",
            "-key",
            "nonce",
            "n0nce42",
            "-key",
            "username",
            "callroster",
            "-key",
            "password",
            "s3cret-trunk",
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        listener = await listener_joins(harness, tmp_path, seconds=30)
        assert await until(lambda: harness.bridge.conferences_in_progress(), 10), (
            "the listener never joined"
        )
        legs_url = f"/api/v1/conferences/{harness.demo.conference_id}/legs"
        response = await client.post(
            legs_url,
            json={"number": "020 7946 0555", "name": "Carol Carrier"},
            headers=_bearer(harness.demo.host_token),
        )
        assert response.status_code == 202, response.text
        placed = response.json()
        assert placed["number"] == "+442079460555" and placed["status"] == "joining"
        leg_id = placed["leg_id"]
        legs = (await client.get(legs_url, headers=_bearer(harness.demo.host_token))).json()
        [shown] = [leg for leg in legs["legs"] if leg["id"] == leg_id]
        assert (shown["status"], shown["name"], shown["name_source"], shown["joined_via"]) == (
            "joining",
            "Carol Carrier",
            "host",
            "dial_out",
        )
        roster = harness.roster.get(harness.demo.conference_id)
        assert roster is not None
        # The digest was right (sipp answered), and the callee pressed 1: on the call.
        assert await until(lambda: roster.legs[leg_id].status == "connected", 15)
        await asyncio.sleep(5)  # real timing: the listener hears the callee's tone
        dropped = await client.post(
            f"{legs_url}/{leg_id}/drop", headers=_bearer(harness.demo.host_token)
        )
        assert dropped.status_code == 200
        assert await asyncio.to_thread(carrier.wait, 15) == 0  # BYE received, answered
        await listener.hang_up()
        heard = audio.read_wav(listener.heard())

        def finished() -> list[CallRecordView]:
            records = harness.store.call_records.for_account(OPERATOR, harness.demo.account_id)
            return records if records and records[0].outcome is not None else []

        await wait_until(finished, 5, "the call's record to be finished")
        records = finished()
    finally:
        if carrier.poll() is None:
            carrier.kill()
    [record] = records
    trunk = harness.store.trunks.list(OPERATOR)[0]
    assert (record.number, record.outcome, record.trunk_id) == (
        "+442079460555",
        "answered",
        trunk.id,
    )
    assert record.requested_by != "guest"
    from_callee = tone_windows(heard, 1000)
    assert len(from_callee) >= 6, describe(heard)
    assert abs(float(np.median([audio.peak_frequency(w) for w in from_callee])) - 1000) < 10


async def test_who_may_dial_and_which_numbers(
    live: tuple[BridgeHarness, httpx.AsyncClient],
) -> None:
    harness, client = live
    nowhere = free_udp_port()  # a trunk nobody answers on: calls stay ringing, that is all
    harness.store.trunks.add(OPERATOR, "uk", f"sip:127.0.0.1:{nowhere}", prefixes=["+44"])
    url = f"/api/v1/conferences/{harness.demo.conference_id}/legs"
    uk = {"number": "+442079460123", "name": "Somebody"}
    assert (await client.post(url, json=uk)).status_code == 401
    colleague = harness.store.accounts.create_user(
        OPERATOR, harness.demo.account_id, Role.HOST, "Other Host"
    )
    token = harness.store.tokens.issue(OPERATOR, harness.demo.account_id, colleague, set(), "t")
    assert (await client.post(url, json=uk, headers=_bearer(token))).status_code == 403
    other = harness.store.accounts.create_account(OPERATOR, "Elsewhere Ltd", "sydney")
    outsider = harness.store.accounts.create_user(OPERATOR, other, Role.HOST, "Out Sider")
    token = harness.store.tokens.issue(OPERATOR, other, outsider, set(), "t")
    assert (await client.post(url, json=uk, headers=_bearer(token))).status_code == 404
    host = _bearer(harness.demo.host_token)

    async def refused(body: dict[str, str], expected: int, detail: str) -> None:
        response = await client.post(url, json=body, headers=host)
        assert response.status_code == expected, response.text
        assert detail in response.json()["detail"]

    await refused({"number": "not a number"}, 422, "not a phone number")
    await refused({"number": "+449098790000"}, 403, "not allowed")  # premium rate
    await refused({"number": "+14155550100"}, 422, "cannot call numbers like this")  # no trunk
    assert not harness.bridge.call_count()

    # "We call you": a guest with the link, who must give a name; then the limit per address.
    guest = _bearer(_link(harness))
    await_name = await client.post(url, json={"number": "+442079460201"}, headers=guest)
    assert await_name.status_code == 422
    for n in (1, 2):
        called = await client.post(
            url, json={"number": f"+44207946020{n}", "name": f"Guest {n}"}, headers=guest
        )
        assert called.status_code == 202, called.text
    limited = await client.post(url, json={"number": "+442079460203", "name": "G"}, headers=guest)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 500
    assert harness.bridge.call_count() == 2
    roster = harness.roster.get(harness.demo.conference_id)
    assert roster is not None
    assert sorted(leg.name_source or "" for leg in roster.legs.values()) == ["entered", "entered"]
    # The host is not held to the guests' limit.
    assert (await client.post(url, json=uk, headers=host)).status_code == 202
    actions = [e.action for e in harness.store.audit.entries(harness.demo.account_id, 50)]
    assert actions.count("web.call_me") == 2 and actions.count("control.dial_out") == 1
    # A locked conference lets no guest be called in (checked before any limit); the host
    # still may call someone in.
    harness.bridge.control(harness.demo.conference_id, "lock", None)
    calls = harness.bridge.call_count()
    locked = await client.post(url, json={"number": "+442079460204", "name": "G"}, headers=guest)
    assert locked.status_code == 423 and "locked" in locked.json()["detail"]
    assert harness.bridge.call_count() == calls
    assert (await client.post(url, json=uk, headers=host)).status_code == 202
