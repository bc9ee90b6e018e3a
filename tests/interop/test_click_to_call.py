"""Click-to-call with real phones (two baresips behind trunks): the host's phone rings
first; once it answers, the target's rings; they hear each other; when the host hangs up, the
target is hung up and the summary (outcome, duration) is reported. A busy target ends the
host's call with the reason."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from tests.support import audio
from tests.support.bridge import running_bridge
from tests.support.peers import Baresip, free_udp_port, require, wait_listening
from tests.support.waiting import until

from callroster.accounts.actor import operator_cli
from callroster.bridge.click_to_call import CallSummary
from callroster.bridge.dial_target import DialTarget

pytestmark = pytest.mark.interop
HOST = "+447700900111"
TARGET = "+447700900222"
SCENARIOS = Path(__file__).with_name("scenarios")


def _phone(workdir: Path, number: str, frequency: float) -> Baresip:
    source = workdir / f"{number}.wav"
    audio.speech_like_tone(source, frequency, 40)
    return Baresip(workdir, source, name=number)


async def test_the_host_then_the_target_are_called_and_hear_each_other(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        bus_events = harness.events
        host, target = _phone(tmp_path, HOST, 700.0), _phone(tmp_path, TARGET, 1000.0)
        await host.answer_calls(30)
        await target.answer_calls(30)  # each returns once it is listening
        click = harness.click_to_call
        ended: list[CallSummary] = []
        call_id = await click.start(
            harness.demo.account_id,
            DialTarget(HOST, "127.0.0.1", host.port),
            DialTarget(TARGET, "127.0.0.1", target.port),
            requested_by="host-user",
            ring_seconds=15,
            on_end=ended.append,
        )
        room = lambda: harness.bridge.conference(call_id)  # noqa: E731
        # Both answer (auto): two legs on the call, no press of 1 needed.
        assert await until(lambda: room() is not None and len(room().connected()) == 2, 15)
        # They talk for 5 s: real audio, recorded and measured below (and the summary's
        # duration, 4 to 9 s, counts it).
        await asyncio.sleep(5)
        await host.hang_up()  # the host ends the call from the phone
        assert await until(lambda: bool(ended), 10)
        await target.hang_up()
        host_heard = audio.read_wav(host.heard())
        target_heard = audio.read_wav(target.heard())
        records = harness.store.call_records.for_account(operator_cli("t"), harness.demo.account_id)
    [summary] = ended
    assert (summary.outcome, summary.failed_leg, summary.target_number) == (
        "answered",
        None,
        TARGET,
    )
    assert 4 <= summary.duration_s <= 9 and summary.answered_at is not None
    assert len(audio.tone_windows(host_heard, 1000)) >= 6, audio.describe(host_heard)
    assert len(audio.tone_windows(target_heard, 700)) >= 6, audio.describe(target_heard)
    # Two outbound attempts, both answered, outside any conference; no leg rows written.
    assert sorted(r.number for r in records) == [HOST, TARGET]
    assert all(r.conference_id is None and r.outcome == "answered" for r in records)
    assert not [
        e for e in bus_events if getattr(e, "conference_id", "") == harness.demo.conference_id
    ]


async def test_a_busy_target_ends_the_hosts_call_with_the_reason(tmp_path: Path) -> None:
    carrier_port = free_udp_port()
    scenario = (SCENARIOS / "uas_reject.xml").read_text()
    (tmp_path / "busy.xml").write_text(
        scenario.replace("@STATUS@", "486").replace("@REASON@", "Busy Here")
    )
    carrier = subprocess.Popen(
        [
            require("sipp"),
            "-sf",
            str(tmp_path / "busy.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(carrier_port),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "60s",
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with running_bridge(tmp_path / "data") as harness:
            host = _phone(tmp_path, HOST, 700.0)
            await host.answer_calls(20)  # returns once it is listening
            await wait_listening(carrier_port, "the carrier")
            click = harness.click_to_call
            ended: list[CallSummary] = []
            await click.start(
                harness.demo.account_id,
                DialTarget(HOST, "127.0.0.1", host.port),
                DialTarget(TARGET, "127.0.0.1", carrier_port),
                requested_by="host-user",
                ring_seconds=15,
                on_end=ended.append,
            )
            assert await until(lambda: bool(ended), 15)
            assert await until(lambda: not harness.bridge.call_count(), 5)
            await host.hang_up()
        [summary] = ended
        assert (summary.outcome, summary.failed_leg, summary.duration_s) == ("busy", "target", 0)
        assert click.in_progress() == 0
    finally:
        if carrier.poll() is None:
            carrier.kill()
