"""A bridge that listens on IPv4 and IPv6 (``bind = 127.0.0.1,::1``) serves each caller from
a socket of its own family: an IPv6 phone's answer names the bridge's IPv6 address, in its
SDP and its Contact, and it hears and is heard by an IPv4 phone. Socket-free, on the fake
clock (tests/support/bridge_rig.py); the same with real peers is
tests/interop/test_dual_stack.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support.bridge_rig import GUEST_PIN, Rig, bridge_rig, final_answer
from tests.support.fake_network import FakePort, Phone, tone
from tests.support.waiting import wait_until

from callroster.bridge.calls import CallState
from callroster.rtp import g711
from callroster.sdp.session import parse_sdp
from callroster.sip.message import Response


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig(media_addresses=("127.0.0.1", "::1")) as rig:
        yield rig


async def _ok(rig: Rig, phone: Phone) -> Response:
    """The 200 OK to the phone's INVITE, once its PIN has been checked and it has joined."""
    answer = await final_answer(rig, phone)
    await wait_until(
        lambda: rig.bridge.call_states().get(phone.call_id) is CallState.JOINED, 5, "joining"
    )
    return answer


def _peak(port: FakePort, to: tuple[str, int]) -> float:
    sent = [data for data, address in port.sent if address == to][-40:]
    pcm = np.concatenate([g711.decode("PCMU", data[12:]) for data in sent]).astype(np.float64)
    return float(np.fft.rfftfreq(len(pcm), 1 / 8000)[np.argmax(np.abs(np.fft.rfft(pcm)))])


def _talk(frequency: float) -> Callable[[int], NDArray[np.int16]]:
    speech = tone(frequency)

    def frame(n: int) -> NDArray[np.int16]:
        if n < 100:  # line noise first, for the talk detector's floor
            return np.random.default_rng(n).normal(0, 30, 160).astype(np.int16)
        return speech(n)

    return frame


async def test_an_ipv6_phone_is_answered_in_ipv6_and_talks_with_an_ipv4_one(rig: Rig) -> None:
    six = Phone(1, GUEST_PIN, host="::1")
    four = Phone(2, GUEST_PIN)
    answer = await _ok(rig, six)
    sdp = parse_sdp(answer.body)
    assert sdp.connection is not None
    assert (sdp.connection.addr_type, sdp.connection.address) == ("IP6", "::1")
    assert "@[::1]:5060" in (answer.get("Contact") or "")
    six_port = rig.network.ports[sdp.media[0].port]
    assert six_port.family == "IP6"
    four_answer = await _ok(rig, four)
    four_sdp = parse_sdp(four_answer.body)
    assert four_sdp.connection is not None and four_sdp.connection.address == "127.0.0.1"
    assert "@127.0.0.1:5060" in (four_answer.get("Contact") or "")
    four_port = rig.network.ports[four_sdp.media[0].port]
    assert four_port.family == "IP4"
    six_talk, four_talk = _talk(700.0), _talk(1200.0)
    for n in range(175):
        six_port.deliver(six.audio(six_talk(n)), six.media)
        four_port.deliver(four.audio(four_talk(n)), four.media)
        rig.clock.advance(0.02)
    assert abs(_peak(four_port, four.media) - 700.0) < 20
    assert abs(_peak(six_port, six.media) - 1200.0) < 20
