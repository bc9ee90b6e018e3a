"""The number plan with a real peer: sipp calls an access number the operator has just
added, in E.164 as a SIP trunk sends it (``sip:+442079460000@bridge``), keys a newly created
conference's PIN by RFC 4733 and joins that conference."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.bridge import running_bridge
from tests.support.peers import run_sipp, sipp_tone_file

from callroster.accounts.actor import operator_cli
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
        store.numbers.add(OPERATOR, NEW_NUMBER, label="London")
        host_id = store.conferences.get_conference(OPERATOR, harness.demo.conference_id).host_id
        conference_id = store.conferences.create_conference(OPERATOR, host_id, "Launch review")
        view = store.conferences.get_conference(OPERATOR, conference_id)
        assert NEW_NUMBER in view.dial_in_numbers
        sipp_tone_file(tmp_path)
        caller = await run_sipp(
            "pin_by_rfc4733",
            harness.sip_port,
            NEW_NUMBER,
            tmp_path,
            fill={"PIN": view.pin},
            duration_ms=3000,
        )
        assert caller.returncode == 0, caller.stdout + caller.stderr
        joined = [e for e in harness.events if isinstance(e, LegJoined)]
    assert [e.conference_id for e in joined] == [conference_id]
    legs = store.conferences.legs(OPERATOR, conference_id)
    assert len(legs) == 1 and legs[0].status == "left"
