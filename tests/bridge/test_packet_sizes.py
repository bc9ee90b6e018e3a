"""Any packet size (issue 11): a phone that asks for and sends 10, 30 or 60 ms packets is
heard by a 20 ms phone at the right frequency, and hears it in packets of the size it asked
for, timestamps contiguous. Socket-free, on the fake clock (tests/support/bridge_rig.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support.bridge_rig import GUEST_PIN, Rig, answered, bridge_rig
from tests.support.fake_network import FakePort, Phone, phone_sdp

from callroster.rtp import g711
from callroster.rtp.packet import RtpPacket

RATE = 8000


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


async def _answered(rig: Rig, phone: Phone, ptime: int | None) -> FakePort:
    extra = f"a=ptime:{ptime}\r\n" if ptime else ""
    return await answered(rig, phone, phone_sdp(*phone.media, extra=extra))


def _tone(frequency: float, start: int, count: int) -> NDArray[np.int16]:
    """Samples of a tone that starts after 2 s of quiet line noise (so that the talk
    detector's noise floor settles, as on a real line)."""
    t = (np.arange(count) + start) / RATE
    noise = np.random.default_rng(start).normal(0, 30, count)
    tone = 8000 * np.sin(2 * np.pi * frequency * t) * (t >= 2.0)
    return (tone + noise).astype(np.int16)


def _peak(pcm: NDArray[np.float64]) -> float:
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / RATE)[np.argmax(spectrum)])


def _decoded(packets: list[RtpPacket]) -> NDArray[np.float64]:
    return np.concatenate([g711.decode("PCMU", p.payload) for p in packets]).astype(np.float64)


@pytest.mark.parametrize("ms", [10, 30, 40, 60])
async def test_a_phone_of_any_packet_size_is_heard_and_hears_in_its_own_size(
    rig: Rig, ms: int
) -> None:
    odd, plain = Phone(1, GUEST_PIN), Phone(2, GUEST_PIN)
    odd_port = await _answered(rig, odd, ms)
    plain_port = await _answered(rig, plain, None)
    size = ms * RATE // 1000
    odd_sample = plain_sample = 0
    # 4 s on the 20 ms clock: the odd phone sends a 700 Hz tone, a packet each time one is
    # full; the plain phone a 1,200 Hz tone every tick.
    for tick in range(250):
        while odd_sample + size <= (tick + 1) * 160:
            pcm = _tone(700.0, odd_sample, size)
            packet = odd.sender.next_packet(g711.encode("PCMU", pcm), size)
            odd_port.deliver(packet, odd.media)
            odd_sample += size
        plain_port.deliver(plain.audio(_tone(1200.0, plain_sample, 160)), plain.media)
        plain_sample += 160
        rig.clock.advance(0.02)
    to_plain, to_odd = plain_port.packets(), odd_port.packets()
    assert _peak(_decoded(to_plain[-60:])) == pytest.approx(700.0, abs=15)
    assert _peak(_decoded(to_odd[-(1200 // ms) :])) == pytest.approx(1200.0, abs=15)
    assert {len(p.payload) for p in to_odd} == {size}  # the size it asked for, every packet
    stamps = [p.timestamp for p in to_odd]
    steps = {(b - a) % (1 << 32) for a, b in zip(stamps, stamps[1:], strict=False)}
    assert steps == {size}
    assert {len(p.payload) for p in to_plain} == {160}
    counters = {c.wrong_payload_type for c in rig.bridge.media_counters()}
    assert counters == {0}
