"""Dial-in with real peers: sipp keys the PIN and talks; baresip keys the PIN and records
what it hears. Assertions are about what a person on the call would hear."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.support import audio
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


def _tone_windows(heard: np.ndarray, frequency: float) -> list[np.ndarray]:
    """The half-second windows that are mostly the given tone."""
    return [
        w
        for w in audio.windows(heard)
        if audio.rms_dbfs(w) > -40
        and audio.band_energy_ratio(w, frequency - 30, frequency + 30) > 0.8
    ]


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
