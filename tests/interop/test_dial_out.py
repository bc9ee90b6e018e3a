"""Dial-out with real peers: the bridge calls a baresip phone into the conference (it rings as
``joining``, hears who invites it, joins by pressing 1 and then hears the call), and sipp
carriers that are busy, fail or never answer leave no leg behind, with the right reason."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.support import audio
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.peers import (
    Baresip,
    free_udp_port,
    require,
    run_sipp,
    sipp_tone_file,
    wait_listening,
)
from tests.support.waiting import until, wait_until

from callroster.accounts.actor import operator_cli
from callroster.bridge.dial_target import DialTarget
from callroster.conference.events import LegInvited, LegJoined, LegLeft
from callroster.media.speech import speak
from callroster.store.call_records import CallRecordView
from callroster.store.conferences import PinMatch

pytestmark = pytest.mark.interop
SCENARIOS = Path(__file__).with_name("scenarios")
CALLEE = "+447700900555"
OPERATOR = operator_cli("test")


def _match(harness: BridgeHarness) -> PinMatch:
    match = harness.store.conferences.open_for_web(harness.demo.conference_id, as_host=False)
    assert match is not None
    return match


async def _record(harness: BridgeHarness, leg_id: str) -> CallRecordView:
    """The leg's call detail record, once it is finished (written off the media path)."""

    def finished() -> list[CallRecordView]:
        records = harness.store.call_records.for_account(OPERATOR, harness.demo.account_id)
        return [r for r in records if r.leg_id == leg_id and r.outcome is not None]

    await wait_until(finished, 5, f"a finished call record for {leg_id}")
    return finished()[0]


def _left_reason(harness: BridgeHarness, leg_id: str) -> str | None:
    for event in harness.events:
        if isinstance(event, LegLeft) and event.leg_id == leg_id:
            return event.reason
    return None


async def test_the_host_calls_a_phone_in_and_it_joins_by_pressing_one(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        sipp_tone_file(tmp_path)
        talker = asyncio.create_task(
            run_sipp("refused", harness.sip_port, harness.demo.pin, tmp_path, duration_ms=20000)
        )
        assert await until(lambda: harness.bridge.conferences_in_progress(), 10), (
            "the talker never joined"
        )
        silence = tmp_path / "callee.wav"
        audio.write_wav(silence, np.zeros(40 * audio.RATE))
        callee = Baresip(tmp_path, silence, name=CALLEE)  # answers calls for that number
        await callee.answer_calls(30)  # returns once it is listening
        leg_id = await harness.bridge.dial_out(
            _match(harness),
            DialTarget(CALLEE, "127.0.0.1", callee.port),
            "Carol Callee",
            ring_seconds=20,
            inviter="Hannah Host",
        )
        invited = [e for e in harness.events if isinstance(e, LegInvited)]
        assert [e.leg_id for e in invited] == [leg_id]
        assert invited[0].details.name == "Carol Callee"
        assert invited[0].details.number == CALLEE
        roster = harness.roster.get(harness.demo.conference_id)
        assert roster is not None and roster.legs[leg_id].status == "joining"
        # Answered (auto): the callee hears the invitation, not the call, for 5 s; then 1.
        # (Real time is the thing tested: the spoken invitation plays out and nothing of the
        # call leaks to the callee meanwhile.)
        await asyncio.sleep(5)
        assert roster.legs[leg_id].status == "joining"
        await callee.keys("1")
        assert await until(lambda: roster.legs[leg_id].status == "connected", 5)
        assert any(isinstance(e, LegJoined) and e.leg_id == leg_id for e in harness.events)
        # The callee hears the talker: real audio, recorded and measured below; the record's
        # duration (9 to 14 s) counts these 5 s too.
        await asyncio.sleep(5)
        harness.bridge.control(harness.demo.conference_id, "drop", leg_id)
        assert await until(lambda: roster.legs[leg_id].status == "left", 5)
        record = await _record(harness, leg_id)
        assert (record.number, record.outcome, record.sip_status) == (CALLEE, "answered", 200)
        assert record.duration_s is not None and 9 <= record.duration_s <= 14
        assert record.conference_id == harness.demo.conference_id
        await callee.hang_up()
        # The host drops the talker too: its sipp gets our BYE and ends (no process left).
        for leg in harness.conference().present():
            harness.bridge.control(harness.demo.conference_id, "drop", leg.id)
        finished = await asyncio.wait_for(talker, 40)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        heard = audio.read_wav(callee.heard())
    # It heard who invites it: the sentence spoken for it (cross-correlation with a fresh
    # rendering; unrelated audio scores far lower).
    spoken = speak("Hannah Host invites you to join a conference call.")
    assert spoken is not None
    reference = np.concatenate(spoken).astype(np.float64) / 32768
    assert audio.best_match(heard[: 8 * audio.RATE], reference) > 0.8
    assert audio.best_match(heard[-4 * audio.RATE :], reference) < 0.5
    flags = audio.tone_flags(heard, 1000)
    first_tone = flags.index(True) if True in flags else None
    # Nothing of the call before pressing 1 (about 5 s of invitation), then the talker.
    assert first_tone is not None and first_tone >= 8, audio.describe(heard)
    assert len(audio.tone_windows(heard, 1000)) >= 6, audio.describe(heard)


def _carrier(workdir: Path, scenario: str, port: int, **fill: str) -> subprocess.Popen[bytes]:
    """sipp as the carrier behind a trunk; ``fill`` replaces ``@NAME@`` in the scenario
    (sipp reads a response's status when it loads the file, before any substitution)."""
    text = (SCENARIOS / f"{scenario}.xml").read_text()
    for name, value in fill.items():
        text = text.replace(f"@{name.upper()}@", value)
    scenario_file = workdir / f"{scenario}.xml"
    scenario_file.write_text(text)
    args = [
        require("sipp"),
        "-sf",
        str(scenario_file),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "60s",
        "-trace_err",
        "-error_file",
        str(workdir / f"{scenario}-errors.log"),
    ]
    return subprocess.Popen(
        args,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("486", "Busy Here", "busy"),
        ("503", "Service Unavailable", "failed"),
        ("603", "Decline", "declined"),
    ],
)
async def test_a_refusing_carrier_leaves_the_reason_and_no_leg(
    tmp_path: Path, status: str, reason: str, expected: str
) -> None:
    port = free_udp_port()
    carrier = _carrier(tmp_path, "uas_reject", port, status=status, reason=reason)
    try:
        async with running_bridge(tmp_path / "data") as harness:
            await wait_listening(port, "the carrier")
            leg_id = await harness.bridge.dial_out(
                _match(harness), DialTarget(CALLEE, "127.0.0.1", port), None, ring_seconds=20
            )
            assert await until(lambda: _left_reason(harness, leg_id) is not None, 10)
            assert _left_reason(harness, leg_id) == expected
            assert not harness.bridge.call_count() and not harness.bridge.conferences_in_progress()
            roster = harness.roster.get(harness.demo.conference_id)
            assert roster is not None and roster.legs[leg_id].left_reason == expected
            record = await _record(harness, leg_id)
            assert (record.outcome, record.sip_status, record.answered_at) == (
                expected,
                int(status),
                None,
            )
            code = await asyncio.to_thread(carrier.wait, 10)
            assert code == 0, carrier.stderr.read() if carrier.stderr else ""
    finally:
        if carrier.poll() is None:
            carrier.kill()


async def test_a_phone_that_never_answers_is_cancelled_after_the_ring_time(tmp_path: Path) -> None:
    port = free_udp_port()
    carrier = _carrier(tmp_path, "uas_ring_forever", port)
    try:
        async with running_bridge(tmp_path / "data") as harness:
            await wait_listening(port, "the carrier")
            leg_id = await harness.bridge.dial_out(
                _match(harness), DialTarget(CALLEE, "127.0.0.1", port), None, ring_seconds=3
            )
            # The bridge's ring time runs in real time: 2 s in, a 3 s ring is not over yet.
            await asyncio.sleep(2)
            assert _left_reason(harness, leg_id) is None  # still ringing
            assert await until(lambda: _left_reason(harness, leg_id) is not None, 5)
            assert _left_reason(harness, leg_id) == "no_answer"
            assert await until(lambda: not harness.bridge.call_count(), 5)
            record = await _record(harness, leg_id)
            assert (record.outcome, record.answered_at, record.number) == (
                "no_answer",
                None,
                CALLEE,
            )
            # sipp saw our CANCEL, answered it (200, then 487) and ended cleanly once we
            # acknowledged the 487: wait for that while the bridge is still running, since the
            # leg leaves (and its record is written) as soon as the CANCEL goes out.
            code = await asyncio.to_thread(carrier.wait, 10)
            assert code == 0, carrier.stderr.read() if carrier.stderr else ""
    finally:
        if carrier.poll() is None:
            carrier.kill()
