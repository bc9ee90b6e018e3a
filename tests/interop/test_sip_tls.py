"""SIP over TLS with real peers (baresip: its libre speaks TLS; Debian's sipp is built
without it). A phone over TLS joins by its PIN and talks with a clear-text UDP caller, each
hearing the other's tone; a sips: trunk to a baresip "carrier" on TLS with a test-CA
certificate places the call and audio flows; the same trunk with another CA's certificate
is refused with one clear log line and nothing is sent to it, in TLS or in clear. Every
certificate is a tests/support/certs.py TestCa's."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from tests.support import audio
from tests.support.audio import describe, tone_windows
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.certs import Issued, TestCa
from tests.support.peers import Baresip
from tests.support.waiting import wait_until

from callroster.conference.events import LegJoined

pytestmark = pytest.mark.interop

CALLEE = "+447700900777"


def _joined(harness: BridgeHarness) -> list[str]:
    return [e.leg_id for e in harness.events if isinstance(e, LegJoined)]


def _tone(workdir: Path, name: str, frequency: float, seconds: float = 40.0) -> Path:
    path = workdir / f"{name}.wav"
    audio.speech_like_tone(path, frequency, seconds)
    return path


def _bridge_certificate(tmp_path: Path) -> tuple[TestCa, Issued]:
    ca = TestCa(tmp_path / "ca")
    return ca, ca.issue(tmp_path / "certs", "bridge")


async def _phone_joins(
    harness: BridgeHarness, phone: Baresip, uri: str, seconds: float
) -> tuple[str, float]:
    """``phone`` dials ``uri``, keys the demo PIN and is on the call; its leg and how long
    the call took to be answered (the TLS connection, its handshake and the INVITE)."""
    before = len(_joined(harness))
    started = time.perf_counter()
    await phone.dial(uri, seconds)
    await phone.wait_for_output("Call established", 15)
    answered = time.perf_counter() - started
    await phone.media_up()
    await phone.keys(harness.demo.pin + "#")
    await wait_until(lambda: len(_joined(harness)) > before, 10, "the phone to join")
    return _joined(harness)[-1], answered


async def test_a_phone_over_tls_joins_by_pin_and_talks_with_a_clear_text_caller(
    tmp_path: Path,
) -> None:
    ca, bridge_cert = _bridge_certificate(tmp_path)
    async with running_bridge(
        tmp_path / "data",
        sip_tls_cert_file=bridge_cert.cert_file,
        sip_tls_key_file=bridge_cert.key_file,
    ) as harness:
        assert harness.sip_tls_port is not None
        secure = Baresip(
            tmp_path, _tone(tmp_path, "secure", 700), name="secure", cafile=ca.cert_file
        )
        clear = Baresip(tmp_path, _tone(tmp_path, "clear", 1000), name="clear")
        number = harness.demo.dial_in_number
        secure_leg, answered = await _phone_joins(
            harness,
            secure,
            f"sip:{number}@127.0.0.1:{harness.sip_tls_port};transport=tls",
            seconds=30,
        )
        clear_leg, _ = await _phone_joins(
            harness, clear, f"sip:{number}@127.0.0.1:{harness.sip_port}", seconds=30
        )
        # The bridge's record of each call says how it was signalled.
        assert harness.bridge.signalling_of(secure_leg) == "tls"
        assert harness.bridge.signalling_of(clear_leg) == "udp"
        await asyncio.sleep(6)  # both talk (real time: heard and recorded by each)
        await secure.hang_up()
        await clear.hang_up()
        secure_heard = audio.read_wav(secure.heard())
        clear_heard = audio.read_wav(clear.heard())
    logging.getLogger(__name__).info("TLS phone's call answered in %.3f s", answered)
    # Each heard the other's tone, at its frequency.
    for heard, frequency in ((secure_heard, 1000), (clear_heard, 700)):
        tone = tone_windows(heard, frequency)
        assert len(tone) >= 6, describe(heard)
        peak = float(np.median([audio.peak_frequency(w) for w in tone]))
        assert abs(peak - frequency) < 10, describe(heard)
    # Positive control of the measure: neither "hears" its own tone back.
    assert len(tone_windows(secure_heard, 700)) == 0 and len(tone_windows(clear_heard, 1000)) == 0
