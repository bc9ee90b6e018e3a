"""The number plan with a real peer: sipp calls an access number the operator has just
added, in E.164 as a SIP trunk sends it (``sip:+442079460123@bridge``), keys a newly created
conference's PIN by RFC 4733 and joins that conference; while it is on the call the host
cannot delete the conference, and can once it has hung up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from tests.support.bridge import running_bridge
from tests.support.peers import run_sipp, sipp_tone_file
from tests.support.waiting import wait_until

from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.conference.events import LegJoined

pytestmark = pytest.mark.interop
OPERATOR = operator_cli("test")
NEW_NUMBER = "+442079460123"


async def test_a_call_to_a_new_number_with_a_new_conferences_pin_joins_it(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        store = harness.store
        # Before the number is in the plan, a call to it is refused (positive control).
        refused = await run_sipp("not_found", harness.sip_port, NEW_NUMBER, tmp_path)
        assert refused.returncode == 0, refused.stdout + refused.stderr
        app = create_app(store, harness.settings, harness.services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://callroster.test",
            headers={"Authorization": f"Bearer {harness.demo.host_token}"},
        ) as host:
            store.numbers.add(OPERATOR, NEW_NUMBER, label="London")
            created = await host.post("/api/v1/conferences", json={"title": "Launch review"})
            assert created.status_code == 201, created.text
            conference = created.json()
            conference_id = conference["id"]
            assert NEW_NUMBER in conference["dial_in_numbers"]
            sipp_tone_file(tmp_path)
            caller = asyncio.create_task(
                run_sipp(
                    "pin_by_rfc4733",
                    harness.sip_port,
                    NEW_NUMBER,
                    tmp_path,
                    fill={"PIN": conference["pin"]},
                    duration_ms=4000,
                )
            )

            def on_call() -> bool:
                return any(
                    isinstance(e, LegJoined) and e.conference_id == conference_id
                    for e in harness.events
                )

            await wait_until(on_call, 15, "the caller to join the new conference")
            url = f"/api/v1/conferences/{conference_id}"
            busy = await host.delete(url)
            assert busy.status_code == 409
            assert busy.json()["detail"] == (
                "this conference is in progress: it can be deleted once everyone has left"
            )
            result = await caller
            assert result.returncode == 0, result.stdout + result.stderr

            def ended() -> bool:
                legs = store.conferences.legs(OPERATOR, conference_id)
                gone = conference_id not in harness.bridge.conferences_in_progress()
                return gone and [leg.status for leg in legs] == ["left"]

            await wait_until(ended, 5, "the caller's leg to be left and the conference to end")
            assert (await host.delete(url)).status_code == 204
        started = [e.conference_id for e in harness.events if isinstance(e, LegJoined)]
    assert started == [conference_id]


async def test_an_account_limited_to_some_numbers_is_reached_through_those_only(
    tmp_path: Path,
) -> None:
    """The demo account is limited to a new number: its PIN keyed after dialling the old
    access number opens nothing (counted as a wrong PIN, as it tells a guesser no more), and
    the same PIN through the new number joins."""
    async with running_bridge(tmp_path / "data") as harness:
        store, demo = harness.store, harness.demo
        store.numbers.add(OPERATOR, NEW_NUMBER, label="London")
        store.numbers.limit_account(OPERATOR, demo.account_id, [NEW_NUMBER])
        sipp_tone_file(tmp_path)

        def joined() -> bool:
            return any(isinstance(e, LegJoined) for e in harness.events)

        elsewhere = await run_sipp(
            "pin_by_rfc4733",
            harness.sip_port,
            demo.dial_in_number,
            tmp_path,
            fill={"PIN": demo.pin},
            duration_ms=4000,
        )
        assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
        guard = harness.bridge.pin_guard
        await wait_until(lambda: guard.failures == 1, 5, "the PIN to be checked, and refused")
        assert not joined()
        through = await run_sipp(
            "pin_by_rfc4733",
            harness.sip_port,
            NEW_NUMBER,
            tmp_path,
            fill={"PIN": demo.pin},
            duration_ms=4000,
        )
        assert through.returncode == 0, through.stdout + through.stderr
        assert joined() and guard.failures == 1
