"""Dial-in with real peers: sipp keys the PIN and talks; baresip keys the PIN and records
what it hears. Assertions are about what a person on the call would hear."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.support import audio, pcap
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.peers import Baresip, run_sipp

from callroster.accounts.actor import operator_cli

pytestmark = pytest.mark.interop


def _tone_files(workdir: Path, frequency: float = 1000.0, seconds: float = 30.0) -> Path:
    """A speech-like tone as sipp's raw u-law stream file; returns its path."""
    wav = workdir / f"tone{int(frequency)}.wav"
    audio.speech_like_tone(wav, frequency, seconds)
    raw = workdir / "tone.ulaw"
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(raw)], check=True
    )
    return raw


def _silence(workdir: Path, seconds: float = 40.0) -> Path:
    path = workdir / "silence.wav"
    audio.write_wav(path, np.zeros(int(seconds * audio.RATE)))
    return path


def _is_tone(window: np.ndarray, frequency: float) -> bool:
    return bool(
        audio.rms_dbfs(window) > -40
        and audio.band_energy_ratio(window, frequency - 30, frequency + 30) > 0.8
    )


def _tone_windows(heard: np.ndarray, frequency: float) -> list[np.ndarray]:
    """The half-second windows that are mostly the given tone."""
    return [w for w in audio.windows(heard) if _is_tone(w, frequency)]


def _tone_flags(heard: np.ndarray, frequency: float) -> list[bool]:
    """For each half second: was it mostly the given tone?"""
    return [_is_tone(w, frequency) for w in audio.windows(heard)]


def _describe(heard: np.ndarray) -> list[tuple[int, int]]:
    return [
        (round(audio.rms_dbfs(w)), round(audio.peak_frequency(w))) for w in audio.windows(heard)
    ]


def _pin_keys(pin: str) -> dict[str, str]:
    return {f"p{i}": digit for i, digit in enumerate(pin, start=1)}


async def _listener_joins(harness: BridgeHarness, workdir: Path, seconds: float) -> Baresip:
    """baresip dials the access number and keys the PIN with RFC 4733 key presses."""
    listener = Baresip(workdir, _silence(workdir))
    await listener.dial(f"sip:{harness.demo.dial_in_number}@127.0.0.1:{harness.sip_port}", seconds)
    await asyncio.sleep(2.5)  # answered, prompt playing
    await listener.keys(harness.demo.pin + "#")
    return listener


async def test_second_caller_hears_the_first_callers_tone(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        listener = await _listener_joins(harness, tmp_path, seconds=25)
        _tone_files(tmp_path)
        talker = await run_sipp(
            "pin_by_info",
            harness.sip_port,
            harness.demo.dial_in_number,
            tmp_path,
            keys=_pin_keys(harness.demo.pin),
            duration_ms=6000,
        )
        assert talker.returncode == 0, talker.stdout + talker.stderr
        log = await listener.hang_up()
        heard = audio.read_wav(listener.heard())
    # While the talker was on, the listener heard 1 kHz at about the level it was sent
    # (bursts of a 0.35 sine, 75 % duty: -12.3 dBFS RMS).
    tone = _tone_windows(heard, 1000)
    assert len(tone) >= 8, (log[-1500:], _describe(heard))
    assert abs(float(np.median([audio.peak_frequency(w) for w in tone])) - 1000) < 10
    assert -15 < float(np.median([audio.rms_dbfs(w) for w in tone])) < -10
    legs = harness.store.conferences.legs(operator_cli("test"), harness.demo.conference_id)
    assert len(legs) == 2 and all(leg.status == "left" for leg in legs)
    numbers = {leg.number for leg in legs}
    assert "+447700900101" in numbers


def _leg_of_number(harness: BridgeHarness, number: str | None, withheld: bool = False) -> str:
    for leg in harness.room().conference.present():
        if (withheld and leg.withheld) or (not withheld and leg.number == number):
            return leg.id
    raise AssertionError(f"no leg for {number} in {harness.room().conference.present()}")


async def test_pin_by_rfc4733_over_tcp_and_heard_by_others(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        listener = await _listener_joins(harness, tmp_path, seconds=25)
        _tone_files(tmp_path, 700.0)
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
    assert len(_tone_windows(heard, 700)) >= 8, _describe(heard)


async def _talk_to_a_listener(
    harness: BridgeHarness, workdir: Path, scenario: str, duration_ms: int
) -> np.ndarray:
    """baresip joins and listens; sipp dials the PIN directly and plays the 1 kHz tone
    through ``scenario``. Returns what the listener heard."""
    listener = await _listener_joins(harness, workdir, seconds=30)
    await asyncio.sleep(2)
    _tone_files(workdir)
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
    flags = _tone_flags(heard, 1000)
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
    flags = _tone_flags(heard, 1000)
    # tone (4 s) - held, silent (4 s) - tone again (4 s)
    runs = [k for k, _ in itertools.groupby(flags)]
    assert runs[-3:] in ([True, False, True], [True, False, True, False][:3]) or runs[-4:] == [
        True,
        False,
        True,
        False,
    ], flags
    assert all(leg.status == "left" for leg in legs)


async def test_host_hold_plays_music_to_the_held_leg(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        held = await _listener_joins(harness, tmp_path, seconds=30)
        await asyncio.sleep(3)
        [leg] = harness.room().conference.present()
        harness.bridge.control(harness.demo.conference_id, "hold", leg.id)
        _tone_files(tmp_path)
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
        assert harness.bridge.rooms == {} and harness.bridge.calls == {}


async def test_host_locks_from_the_keypad_and_a_guest_is_refused(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        host = Baresip(tmp_path, _silence(tmp_path), name="host")
        await host.dial(f"sip:{harness.demo.host_pin}@127.0.0.1:{harness.sip_port}", 25)
        await asyncio.sleep(3)
        await host.keys("*5")
        await asyncio.sleep(1)
        assert harness.room().conference.locked
        _tone_files(tmp_path)
        refused = await run_sipp("refused", harness.sip_port, harness.demo.pin, tmp_path)
        assert refused.returncode == 0, refused.stdout + refused.stderr
        assert [leg.role.value for leg in harness.room().conference.present()] == ["host"]
        await host.hang_up()


async def test_drop_sends_bye_and_withheld_number_is_not_stored(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        _tone_files(tmp_path)
        caller = asyncio.create_task(
            run_sipp(
                "refused",
                harness.sip_port,
                harness.demo.pin,
                tmp_path,
                keys={"caller": "anonymous"},
            )
        )
        for _ in range(100):
            await asyncio.sleep(0.1)
            if harness.bridge.rooms:
                break
        leg_id = _leg_of_number(harness, None, withheld=True)
        harness.bridge.control(harness.demo.conference_id, "drop", leg_id)
        result = await caller
        assert result.returncode == 0, result.stdout + result.stderr
        await asyncio.sleep(0.5)
        [leg] = harness.store.conferences.legs(operator_cli("test"), harness.demo.conference_id)
    assert leg.number == "withheld" and leg.status == "left"


async def test_join_and_leave_tones_and_bad_traffic_do_not_disturb_a_call(tmp_path: Path) -> None:
    """While a call is up, garbage SIP, an oversized message over TCP and RTP from strangers
    hit the bridge; the listener still hears the talker without a gap, and hears the join
    and leave tones around it."""
    from callroster.media.tones import join_tone, leave_tone

    async with running_bridge(tmp_path / "data") as harness:
        listener = await _listener_joins(harness, tmp_path, seconds=30)
        await asyncio.sleep(2)
        _tone_files(tmp_path)
        talker = asyncio.create_task(
            run_sipp(
                "direct_then_mute", harness.sip_port, harness.demo.pin, tmp_path, duration_ms=6000
            )
        )
        while len(harness.bridge.calls) < 2:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)
        ports = [call.local_port for call in harness.bridge.calls.values()]
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
        counters = [call.rtp.counters for call in harness.bridge.calls.values()]
        await asyncio.sleep(1)
        await listener.hang_up()
        heard = audio.read_wav(listener.heard())
    assert counters and counters[0].from_strangers >= 1000
    flags = _tone_flags(heard, 1000)
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
        listener = await _listener_joins(harness, tmp_path, seconds=25)
        await asyncio.sleep(2)
        t = np.arange(6 * audio.RATE) / audio.RATE
        gate = (t % 0.4) < 0.3  # speech-like bursts, as talk detection expects
        tone = (0.3 * np.sin(2 * np.pi * 1200 * t) * gate * 32767).astype(np.int16)
        pcap.write_rtp_pcap(tmp_path / "tone_pcma.pcap", "PCMA", 8, tone)
        result = await run_sipp("pcap_direct", harness.sip_port, harness.demo.pin, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        await listener.hang_up()
        heard = audio.read_wav(listener.heard())
    assert len(_tone_windows(heard, 1200)) >= 8, _describe(heard)
