"""Debian's linphonec as a caller, headless (tests/support/linphone.py): it joins the demo
conference with the PIN in the request URI, keyed as RFC 4733 events, or keyed by SIP INFO,
and then talks with a baresip phone already on the call. Each hears the other's tone: the
phone linphonec's 1 kHz, linphonec the phone's 700 Hz."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support import audio
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.callers import phone_joins
from tests.support.linphone import Linphone
from tests.support.peers import Baresip
from tests.support.waiting import until

from callroster.conference.events import LegJoined

pytestmark = pytest.mark.interop

LINPHONE_HZ = 1000.0
PHONE_HZ = 700.0
HEARD_WINDOWS = 4  # half seconds of the other's tone each side must hear: 2 s


def _joined(harness: BridgeHarness) -> int:
    return sum(isinstance(event, LegJoined) for event in harness.events)


def _so_far(path: Path | None) -> NDArray[np.float64]:
    """A recording still being written: its samples so far (its header is not final yet)."""
    if path is None or not path.exists():
        return np.zeros(0)
    raw = path.read_bytes()[44:]
    return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float64) / 32768.0


def _phone_recording(phone: Baresip) -> Path | None:
    found = sorted(phone.records.glob("dump-*-dec.wav"))
    return found[-1] if found else None


def _tone_heard(heard: NDArray[np.float64], frequency: float) -> tuple[int, float]:
    """How many half seconds were mostly ``frequency``, and their median peak frequency."""
    windows = audio.tone_windows(heard, frequency)
    peak = float(np.median([audio.peak_frequency(w) for w in windows])) if windows else 0.0
    return len(windows), peak


async def _linphone_talks_with_a_phone(
    tmp_path: Path, *, key_pin: bool, info: bool = False, rfc4733: bool = True
) -> None:
    """A baresip phone joins (the PIN dialled); linphonec dials the PIN, or the access
    number and keys the PIN; both are on the call and each hears the other's tone."""
    async with running_bridge(tmp_path / "data") as harness:
        phone_source = tmp_path / "phone.wav"
        audio.speech_like_tone(phone_source, PHONE_HZ, 40)
        phone = await phone_joins(harness, tmp_path, phone_source, seconds=40, key_pin=False)
        linphone_source = tmp_path / "linphone.wav"
        audio.speech_like_tone(linphone_source, LINPHONE_HZ, 40)
        async with Linphone(tmp_path, linphone_source, info=info, rfc4733=rfc4733) as linphone:
            number = harness.demo.dial_in_number if key_pin else harness.demo.pin
            await linphone.call(f"sip:{number}@127.0.0.1:{harness.sip_port}")
            await linphone.connected()
            if key_pin:
                # The eight digits, no '#': tried after the keypad's 2 s pause (the demo's
                # host PIN has 10 digits, issue 12).
                await linphone.keys(harness.demo.pin)
            await linphone.wait_until(lambda: _joined(harness) == 2, 10, "linphonec to join")

            def both_heard() -> bool:
                heard_by_phone = _so_far(_phone_recording(phone))
                heard_by_linphone = _so_far(linphone.recording)
                return (
                    len(audio.tone_windows(heard_by_phone, LINPHONE_HZ)) >= HEARD_WINDOWS
                    and len(audio.tone_windows(heard_by_linphone, PHONE_HZ)) >= HEARD_WINDOWS
                )

            # Until each has heard 2 s of the other, in real time (at most 10 s).
            await until(both_heard, 10, interval=0.25)
            await linphone.hang_up()
            # Kept beside the logs, to listen to when a test fails.
            heard_by_linphone = audio.read_wav(
                Path(shutil.copy(linphone.heard(), tmp_path / "heard-by-linphone.wav"))
            )
            diagnostics = linphone.diagnostics(1500)
        await phone.hang_up()
        heard_by_phone = audio.read_wav(
            Path(shutil.copy(phone.heard(), tmp_path / "heard-by-phone.wav"))
        )
    windows, peak = _tone_heard(heard_by_phone, LINPHONE_HZ)
    assert windows >= HEARD_WINDOWS, (audio.describe(heard_by_phone), diagnostics)
    assert abs(peak - LINPHONE_HZ) < 10, peak
    windows, peak = _tone_heard(heard_by_linphone, PHONE_HZ)
    assert windows >= HEARD_WINDOWS, (audio.describe(heard_by_linphone), diagnostics)
    assert abs(peak - PHONE_HZ) < 10, peak


async def test_linphonec_joins_with_the_pin_in_the_uri(tmp_path: Path) -> None:
    await _linphone_talks_with_a_phone(tmp_path, key_pin=False)


async def test_linphonec_keys_the_pin_as_rfc4733_events(tmp_path: Path) -> None:
    await _linphone_talks_with_a_phone(tmp_path, key_pin=True)


@pytest.mark.parametrize("rfc4733", [False, True], ids=["info-alone", "info-with-rfc4733-left-on"])
async def test_linphonec_keys_the_pin_by_sip_info(tmp_path: Path, rfc4733: bool) -> None:
    """SIP INFO alone, and as linphone is when a user turns INFO on: RFC 4733 stays on (its
    default), so every key press comes both ways, and must count once (it used to be
    counted twice, the PIN refused, and linphonec never joined)."""
    await _linphone_talks_with_a_phone(tmp_path, key_pin=True, info=True, rfc4733=rfc4733)
