"""Dial-in with real peers: sipp keys the PIN and talks; baresip keys the PIN and records
what it hears. Assertions are about what a person on the call would hear."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import numpy as np
import pytest
from tests.support import audio, pcap
from tests.support.audio import describe, tone_flags, tone_windows
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.callers import listener_joins, prompt_seconds
from tests.support.peers import Baresip, pin_keys, run_sipp, sipp_tone_file
from tests.support.waiting import until, wait_until

from callroster.accounts.actor import operator_cli
from callroster.conference.events import LegJoined, LegLeft, TalkingStarted

pytestmark = pytest.mark.interop


async def test_second_caller_hears_the_first_callers_tone(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        listener = await listener_joins(harness, tmp_path, seconds=25)
        sipp_tone_file(tmp_path)
        talker = await run_sipp(
            "pin_by_info",
            harness.sip_port,
            harness.demo.dial_in_number,
            tmp_path,
            keys=pin_keys(harness.demo.pin),
            # No '#': the eighth digit is tried after the keypad's 2 s pause, since the demo's
            # host PIN has 10 digits (issue 12); then 6 s on the call.
            duration_ms=8000,
        )
        assert talker.returncode == 0, talker.stdout + talker.stderr
        log = await listener.hang_up()
        heard = audio.read_wav(listener.heard())
    # While the talker was on, the listener heard 1 kHz at about the level it was sent
    # (bursts of a 0.35 sine, 75 % duty: -12.3 dBFS RMS).
    tone = tone_windows(heard, 1000)
    assert len(tone) >= 8, (log[-1500:], describe(heard))
    assert abs(float(np.median([audio.peak_frequency(w) for w in tone])) - 1000) < 10
    assert -15 < float(np.median([audio.rms_dbfs(w) for w in tone])) < -10
    legs = harness.store.conferences.legs(operator_cli("test"), harness.demo.conference_id)
    assert len(legs) == 2 and all(leg.status == "left" for leg in legs)
    numbers = {leg.number for leg in legs}
    assert "+447700900101" in numbers


def _count(harness: BridgeHarness, kind: type) -> int:
    return sum(isinstance(event, kind) for event in harness.events)


def _stored_statuses(harness: BridgeHarness) -> list[str]:
    legs = harness.store.conferences.legs(operator_cli("test"), harness.demo.conference_id)
    return [leg.status for leg in legs]


def _leg_of_number(harness: BridgeHarness, number: str | None, withheld: bool = False) -> str:
    for leg in harness.conference().present():
        if (withheld and leg.withheld) or (not withheld and leg.number == number):
            return leg.id
    raise AssertionError(f"no leg for {number} in {harness.conference().present()}")


async def test_pin_by_rfc4733_over_tcp_and_heard_by_others(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        listener = await listener_joins(harness, tmp_path, seconds=25)
        sipp_tone_file(tmp_path, 700.0)
        talker = await run_sipp(
            "pin_by_rfc4733",
            harness.sip_port,
            harness.demo.dial_in_number,
            tmp_path,
            transport="t1",
            fill={"PIN": harness.demo.pin},
            duration_ms=8000,
        )
        assert talker.returncode == 0, talker.stdout + talker.stderr
        await listener.hang_up()
        heard = audio.read_wav(listener.heard())
    assert len(tone_windows(heard, 700)) >= 8, describe(heard)


async def _talk_to_a_listener(
    harness: BridgeHarness, workdir: Path, scenario: str, duration_ms: int
) -> np.ndarray:
    """baresip joins and listens; sipp dials the PIN directly and plays the 1 kHz tone
    through ``scenario``. Returns what the listener heard."""
    # The listener dials the PIN directly: keying it is proven by the first two tests. It
    # hears its "joining" prompt out (real time) before the talker's tone, which is measured.
    listener = await listener_joins(harness, workdir, seconds=30, key_pin=False)
    await asyncio.sleep(prompt_seconds("joining"))
    sipp_tone_file(workdir)
    talker = await run_sipp(
        scenario, harness.sip_port, harness.demo.pin, workdir, duration_ms=duration_ms
    )
    assert talker.returncode == 0, talker.stdout + talker.stderr
    await listener.hang_up()
    return audio.read_wav(listener.heard())


async def test_a_muted_leg_is_not_heard(tmp_path: Path) -> None:
    """The talker presses *6 after 5 s: the listener hears the tone before, not after."""
    async with running_bridge(tmp_path / "data") as harness:
        heard = await _talk_to_a_listener(harness, tmp_path, "direct_then_mute", 5000)
        muted = [e for e in harness.events if type(e).__name__ == "LegMuted"]
    assert len(muted) == 1 and muted[0].by == "self"
    flags = tone_flags(heard, 1000)
    first, last = flags.index(True), len(flags) - 1 - flags[::-1].index(True)
    # About 5 s of tone (10 windows), then none for the 5 s the talker stayed on muted.
    assert 7 <= sum(flags) <= 12 and all(flags[first + 1 : last]), flags
    assert not any(flags[last + 1 :]) and len(flags) - last > 6, flags


async def test_phone_hold_takes_the_leg_out_and_resume_brings_it_back(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        heard = await _talk_to_a_listener(harness, tmp_path, "direct_then_hold", 4000)
        kinds = [(type(e).__name__, getattr(e, "by", None)) for e in harness.events]
        legs = harness.store.conferences.legs(operator_cli("test"), harness.demo.conference_id)
    assert ("LegHeld", "phone") in kinds and ("LegResumed", "phone") in kinds
    flags = tone_flags(heard, 1000)
    # Silence before the talker called, then tone (4 s) - held, silent (4 s) - tone again
    # (4 s), and at most a moment of silence after it hung up.
    runs = [(tone, len(list(group))) for tone, group in itertools.groupby(flags)]
    if runs and runs[-1] == (False, 1):
        runs.pop()
    assert [tone for tone, _ in runs] == [False, True, False, True], (runs, flags)
    _, talked, held, resumed = (length for _, length in runs)
    assert talked >= 6 and 6 <= held <= 10 and resumed >= 6, (runs, flags)
    assert all(leg.status == "left" for leg in legs)


async def test_host_hold_plays_music_to_the_held_leg(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        held = await listener_joins(harness, tmp_path, seconds=30, key_pin=False)
        [leg] = harness.conference().present()
        harness.bridge.control(harness.demo.conference_id, "hold", leg.id)
        sipp_tone_file(tmp_path)
        talker = await run_sipp(
            "direct_then_mute", harness.sip_port, harness.demo.pin, tmp_path, duration_ms=4000
        )
        assert talker.returncode == 0
        await held.hang_up()
        heard = audio.read_wav(held.heard())
    from callroster.media.tones import hold_music_loop

    music = np.concatenate(hold_music_loop()).astype(np.float64) / 32768
    tail = heard[-8 * audio.RATE :]  # the last 8 s: on hold while the talker talked
    # Never the talker's tone...
    assert all(audio.band_energy_ratio(w, 970, 1030) < 0.2 for w in audio.windows(tail))
    # ...but the hold music, found in what was heard by cross-correlation.
    assert audio.best_match(tail, music[: 2 * audio.RATE]) > 0.8


async def test_three_wrong_pins_end_the_call(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        wrong = "9" * 8 if harness.demo.pin != "9" * 8 else "1" * 8
        result = await run_sipp(
            "wrong_pin",
            harness.sip_port,
            harness.demo.dial_in_number,
            tmp_path,
            keys={"w": wrong[0]},
        )
        assert result.returncode == 0, result.stdout + result.stderr  # sipp got our BYE
        assert harness.bridge.conferences_in_progress() == [] and harness.bridge.call_count() == 0


async def test_host_locks_from_the_keypad_and_a_guest_is_refused(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        host = Baresip(tmp_path, audio.silence_file(tmp_path), name="host")
        await host.dial(f"sip:{harness.demo.host_pin}@127.0.0.1:{harness.sip_port}", 25)
        # The host PIN was dialled: on the call at once, no PIN to key.
        await wait_until(lambda: _count(harness, LegJoined) == 1, 10, "the host to join")
        await host.media_up()
        await host.keys("*5")
        assert await until(lambda: harness.conference().locked, 5)
        sipp_tone_file(tmp_path)
        refused = await run_sipp("refused", harness.sip_port, harness.demo.pin, tmp_path)
        assert refused.returncode == 0, refused.stdout + refused.stderr
        assert [leg.role.value for leg in harness.conference().present()] == ["host"]
        await host.hang_up()


async def test_drop_sends_bye_and_withheld_number_is_not_stored(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        sipp_tone_file(tmp_path)
        caller = asyncio.create_task(
            run_sipp(
                "refused",
                harness.sip_port,
                harness.demo.pin,
                tmp_path,
                keys={"caller": "anonymous"},
            )
        )
        await until(lambda: harness.bridge.conferences_in_progress(), 10)
        leg_id = _leg_of_number(harness, None, withheld=True)
        harness.bridge.control(harness.demo.conference_id, "drop", leg_id)
        result = await caller
        assert result.returncode == 0, result.stdout + result.stderr
        await wait_until(lambda: _stored_statuses(harness) == ["left"], 5, "the leg stored as left")
        [leg] = harness.store.conferences.legs(operator_cli("test"), harness.demo.conference_id)
    assert leg.number == "withheld" and leg.status == "left"


async def test_join_and_leave_tones_and_bad_traffic_do_not_disturb_a_call(tmp_path: Path) -> None:
    """While a call is up, garbage SIP, an oversized message over TCP and RTP from strangers
    hit the bridge; the listener still hears the talker without a gap, and hears the join
    and leave tones around it."""
    from callroster.media.tones import join_tone, leave_tone

    async with running_bridge(tmp_path / "data") as harness:
        listener = await listener_joins(harness, tmp_path, seconds=30, key_pin=False)
        # The listener hears its "joining" prompt out (played in real time), so that the join
        # tone is heard on its own.
        await asyncio.sleep(prompt_seconds("joining"))
        sipp_tone_file(tmp_path)
        talker = asyncio.create_task(
            run_sipp(
                "direct_then_mute", harness.sip_port, harness.demo.pin, tmp_path, duration_ms=6000
            )
        )
        await wait_until(lambda: harness.bridge.call_count() >= 2, 10, "the talker's call")
        # The talker's tone is flowing (and taken for talk) before the strangers start.
        await wait_until(lambda: _count(harness, TalkingStarted) >= 1, 10, "the talker to talk")
        ports = harness.bridge.media_ports()
        rng = np.random.default_rng(7)
        loop = asyncio.get_running_loop()
        stranger, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        for i in range(3000):
            junk = rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
            stranger.sendto(junk, ("127.0.0.1", harness.sip_port))
            stranger.sendto(b"\x80\x00" + junk[:170], ("127.0.0.1", ports[i % len(ports)]))
            if i % 100 == 0:
                await asyncio.sleep(0.01)
        _, writer = await asyncio.open_connection("127.0.0.1", harness.sip_port)
        writer.write(b"INVITE sip:x@y SIP/2.0\r\nContent-Length: 999999999\r\n\r\n" + b"A" * 70000)
        await writer.drain()
        writer.close()
        result = await talker
        assert result.returncode == 0, result.stdout + result.stderr
        counters = harness.bridge.media_counters()
        await wait_until(lambda: _count(harness, LegLeft) >= 1, 5, "the talker to leave")
        # The leave tone plays in real time: the listener stays on long enough to hear it.
        await asyncio.sleep(len(leave_tone()) * 0.02 + 0.3)
        await listener.hang_up()
        heard = audio.read_wav(listener.heard())
    assert counters and counters[0].from_strangers >= 1000
    flags = tone_flags(heard, 1000)
    first = flags.index(True)
    assert all(flags[first : first + 9]), flags  # 5 s of talk before *6, no gap
    join = np.concatenate(join_tone()).astype(np.float64) / 32768
    leave = np.concatenate(leave_tone()).astype(np.float64) / 32768
    assert audio.best_match(heard, join) > 0.8
    assert audio.best_match(heard, leave) > 0.8


async def test_sipp_plays_a_law_from_a_pcap_and_others_hear_it(tmp_path: Path) -> None:
    """sipp replays a capture of A-law RTP (a 1.2 kHz tone, 20 ms packets); the listener,
    on u-law, hears that tone: the bridge decodes and re-encodes per leg."""
    async with running_bridge(tmp_path / "data") as harness:
        listener = await listener_joins(harness, tmp_path, seconds=25, key_pin=False)
        t = np.arange(6 * audio.RATE) / audio.RATE
        gate = (t % 0.4) < 0.3  # speech-like bursts, as talk detection expects
        tone = (0.3 * np.sin(2 * np.pi * 1200 * t) * gate * 32767).astype(np.int16)
        pcap.write_rtp_pcap(tmp_path / "tone_pcma.pcap", "PCMA", 8, tone)
        result = await run_sipp("pcap_direct", harness.sip_port, harness.demo.pin, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        await listener.hang_up()
        heard = audio.read_wav(listener.heard())
    assert len(tone_windows(heard, 1200)) >= 8, describe(heard)
