"""Symmetric RTP (issue 11): a phone whose SDP names one address and whose RTP comes from
another (behind NAT, or on a host with several addresses) is heard and hears, because the
bridge latches to where its media really comes from; a stranger cannot take a leg's media
over. Socket-free, on the fake clock (tests/support/bridge_rig.py); the same through a real
NAT is tests/interop/test_nat.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support.bridge_rig import GUEST_PIN, Rig, answered, bridge_rig
from tests.support.fake_network import FakePort, Phone, tone

from callroster.rtp import g711
from callroster.rtp.latch import PROBATION
from callroster.rtp.packet import RtpSender

NAT_MAPPING = ("127.0.0.9", 41234)  # where the phone's packets really come from


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


def _peak_and_level(port: FakePort, address: tuple[str, int], frames: int) -> tuple[float, float]:
    """What the bridge sent to ``address`` in its last ``frames`` packets: peak frequency and
    RMS level (0, 0 when it sent nothing there)."""
    sent = [data for data, to in port.sent if to == address][-frames:]
    port.sent.clear()
    if not sent:
        return 0.0, 0.0
    pcm = np.concatenate([g711.decode("PCMU", data[12:]) for data in sent]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm))
    peak = float(np.fft.rfftfreq(len(pcm), 1 / 8000)[np.argmax(spectrum)])
    return peak, float(np.sqrt(np.mean(pcm**2)))


def _talk(n: int, frequency: float) -> NDArray[np.int16]:
    """Frame n: 2 s of quiet line noise, then a tone (the talk detector needs the floor)."""
    if n < 100:
        return np.random.default_rng(n).normal(0, 30, 160).astype(np.int16)
    return tone(frequency)(n)


async def test_a_phone_behind_nat_is_heard_and_hears(rig: Rig) -> None:
    natted, other = Phone(1, GUEST_PIN), Phone(2, GUEST_PIN)
    natted_port = await answered(rig, natted)  # its SDP says 127.0.1.1:7002 ...
    other_port = await answered(rig, other)
    for n in range(175):  # ... but its RTP comes from the NAT's mapping
        natted_port.deliver(natted.audio(_talk(n, 700.0)), NAT_MAPPING)
        other_port.deliver(other.audio(_talk(n, 1200.0)), other.media)
        rig.clock.advance(0.02)
    peak, level = _peak_and_level(other_port, other.media, 40)
    assert abs(peak - 700.0) < 20 and level > 1000  # the other phone hears it
    peak, level = _peak_and_level(natted_port, NAT_MAPPING, 40)
    assert abs(peak - 1200.0) < 20 and level > 1000  # and it hears, sent to the mapping
    counters = sorted(rig.bridge.media_counters(), key=lambda c: c.latched)
    assert [c.latched for c in counters] == [0, 1]
    assert counters[1].from_strangers == PROBATION - 1  # the probation, then none


async def test_a_stranger_cannot_take_over_a_phone_that_sends_from_its_sdp_address(
    rig: Rig,
) -> None:
    phone, listener = Phone(1, GUEST_PIN), Phone(2, GUEST_PIN)
    phone_port = await answered(rig, phone)
    listener_port = await answered(rig, listener)
    intruder = RtpSender(ssrc=666, initial_sequence=1, initial_timestamp=0)
    intruder_source = (phone.media[0], phone.media[1] + 1)  # same host, another port
    for n in range(175):
        phone_port.deliver(phone.audio(_talk(n, 700.0)), phone.media)
        # A well-formed, steady stream of a loud 2 kHz tone: it would latch, were the leg
        # not latched already.
        spoof = intruder.next_packet(g711.encode("PCMU", tone(2000.0)(n)), 160)
        phone_port.deliver(spoof, intruder_source)
        listener_port.deliver(listener.audio(_talk(n, 1200.0)), listener.media)
        rig.clock.advance(0.02)
    peak, _ = _peak_and_level(listener_port, listener.media, 40)
    assert abs(peak - 700.0) < 20  # the phone, not the intruder
    assert not [data for data, to in phone_port.sent if to == intruder_source]
    counters = [c for c in rig.bridge.media_counters() if c.from_strangers]
    assert len(counters) == 1 and counters[0].from_strangers == 175
    assert counters[0].latched == 0


async def test_a_nat_rebinding_moves_the_leg_only_for_its_own_stream_after_silence(
    rig: Rig,
) -> None:
    phone, listener = Phone(1, GUEST_PIN), Phone(2, GUEST_PIN)
    phone_port = await answered(rig, phone)
    listener_port = await answered(rig, listener)
    rebound = ("127.0.0.9", 50000)
    for n in range(175):
        if n < 100 or n >= 130:  # 0.6 s of silence from the phone at n = 100
            source = phone.media if n < 100 else rebound  # then its NAT mapping changed
            phone_port.deliver(phone.audio(_talk(n, 700.0)), source)
        listener_port.deliver(listener.audio(_talk(n, 1200.0)), listener.media)
        rig.clock.advance(0.02)
    # 0.6 s is not silence enough (2 s): the phone's new mapping is dropped, unheard.
    assert [c.latched for c in rig.bridge.media_counters()] == [0, 0]
    peak, level = _peak_and_level(listener_port, listener.media, 20)
    assert level < 200
    for n in range(175, 350):  # after 2 s of it, the same stream from there takes over
        phone_port.deliver(phone.audio(_talk(n, 700.0)), rebound)
        listener_port.deliver(listener.audio(_talk(n, 1200.0)), listener.media)
        rig.clock.advance(0.02)
    peak, level = _peak_and_level(listener_port, listener.media, 40)
    assert abs(peak - 700.0) < 20 and level > 1000
    assert sorted(c.latched for c in rig.bridge.media_counters()) == [0, 1]
    assert {to for _, to in phone_port.sent[-100:]} == {rebound}  # and is sent to there
