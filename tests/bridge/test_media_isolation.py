"""One bad leg never silences the others (issue 11): a leg whose packets the socket refuses
is counted and logged once while the rest of the conference goes on hearing each other, and
a session description the bridge could never send to (an IPv6 address on an IPv4 bridge, a
host name) is refused with 488 and a Warning saying why, before it joins. Socket-free, on the
fake clock (tests/support/bridge_rig.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import numpy as np
import pytest
from tests.support.bridge_rig import GUEST_PIN, Rig, answered, bridge_rig
from tests.support.fake_network import FakePort, Phone, phone_sdp, tone
from tests.support.waiting import wait_until

from callroster.conference.events import MediaProblem
from callroster.rtp import g711
from callroster.sip.message import Response, serialise


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


class _Unreachable(FakePort):
    """A media socket that refuses every packet (as uvloop refuses an IPv6 address on an
    IPv4 socket: 'socket family mismatch')."""

    def sendto(self, data: bytes, address: tuple[str, int], /) -> None:
        raise ValueError("socket family mismatch")


async def _final(rig: Rig, phone: Phone, body: bytes) -> Response:
    phone.send(rig.bridge, phone.invite(body=body))
    found: list[Response] = []

    def final() -> bool:
        found.extend(r for r in rig.responses(phone.call_id) if r.status >= 200)
        return bool(found)

    await wait_until(final, 5, "a final answer", 0.002)
    return found[0]


def _heard(port: FakePort, frames: int) -> tuple[np.ndarray, int]:
    """The last ``frames`` of what a leg was sent, decoded, and how many packets it got."""
    payloads = [p.payload for p in port.packets()]
    pcm = np.concatenate([g711.decode("PCMU", p) for p in payloads[-frames:]])
    return pcm.astype(np.float64), len(payloads)


async def test_a_leg_the_socket_refuses_is_confined_and_the_others_hear_each_other(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob, carol = (Phone(n, GUEST_PIN) for n in (1, 2, 3))
    alice_port = await answered(rig, alice)
    bob_port = await answered(rig, bob)
    carol_port = await answered(rig, carol)
    carol_port.__class__ = _Unreachable  # from now on every packet to Carol fails
    speech = tone(1000.0)
    noise = np.random.default_rng(3).normal(0, 30, (225, g711.FRAME_SAMPLES))
    with caplog.at_level(logging.WARNING, logger="callroster.bridge.media_tick"):
        for n in range(225):  # 3 s of line noise, then Alice talks for 1.5 s
            pcm = speech(n) if n >= 150 else noise[n].astype(np.int16)
            alice_port.deliver(alice.audio(pcm), alice.media)
            rig.clock.advance(0.02)
    heard, packets = _heard(bob_port, 40)
    assert packets >= 224  # a packet every tick, the failing leg notwithstanding
    peak = np.fft.rfftfreq(len(heard), 1 / 8000)[np.argmax(np.abs(np.fft.rfft(heard)))]
    assert abs(peak - 1000.0) < 20 and np.sqrt(np.mean(heard**2)) > 1000
    failures = [c.send_failures for c in rig.bridge.media_counters()]
    assert sorted(failures) == [0, 0, 225]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "callroster.bridge.media_tick" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1 and "sending media failed (ValueError)" in warnings[0]
    assert rig.bridge.call_count() == 3
    # It lasted, so the roster is told (once), for Carol's leg only (the one logged).
    problems = [(e.leg_id, e.problem) for e in rig.of(MediaProblem)]
    assert len(problems) == 1 and problems[0][1] == "cannot_send"
    assert f"leg {problems[0][0]}:" in warnings[0]


async def test_a_phone_that_falls_silent_is_shown_and_cleared_when_it_is_heard_again(
    rig: Rig,
) -> None:
    alice, bob = Phone(1, GUEST_PIN), Phone(2, GUEST_PIN)
    alice_port = await answered(rig, alice)
    bob_port = await answered(rig, bob)
    for n in range(800):  # 16 s: Alice's phone sends nothing from 2 s to 14 s
        if n < 100 or n >= 700:
            alice_port.deliver(alice.audio(tone(300.0, 100.0)(n)), alice.media)
        bob_port.deliver(bob.audio(tone(500.0, 100.0)(n)), bob.media)
        rig.clock.advance(0.02)
    problems = [e.problem for e in rig.of(MediaProblem)]
    assert problems == ["nothing_received", None]  # Bob's leg, which kept sending: nothing


@pytest.mark.parametrize(
    ("connection", "what"),
    [("IN IP6 ::1", "IPv6 on an IPv4 bridge"), ("IN IP4 localhost", "a host name")],
)
async def test_media_the_bridge_could_never_reach_is_refused_with_a_warning(
    rig: Rig, connection: str, what: str
) -> None:
    body = phone_sdp("127.0.1.1", 7002).replace(b"IN IP4 127.0.1.1", connection.encode())
    response = await _final(rig, Phone(1, GUEST_PIN), body)
    assert (response.status, response.get("Warning")) == (
        488,
        '301 127.0.0.1 "Incompatible network address formats"',
    ), what
    assert rig.bridge.call_count() == 0 and rig.bridge.conferences_in_progress() == []
    assert all(port.closed for port in rig.network.ports.values())


async def test_no_codec_in_common_and_a_malformed_body_say_why(rig: Rig) -> None:
    g722 = (
        phone_sdp("127.0.1.1", 7002)
        .replace(b"RTP/AVP 0 101", b"RTP/AVP 9")
        .replace(b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:9 G722/8000")
    )
    response = await _final(rig, Phone(1, GUEST_PIN), g722)
    assert (response.status, response.get("Warning")) == (
        488,
        '305 127.0.0.1 "Incompatible media format"',
    )
    response = await _final(rig, Phone(2, GUEST_PIN), b"v=0\r\nthis is not SDP\r\n")
    assert (response.status, response.get("Warning")) == (
        400,
        '399 127.0.0.1 "Malformed session description"',
    )
    assert serialise(response).count(b"this is not SDP") == 0  # never echoed back


async def test_an_error_the_socket_reports_later_is_counted_on_its_leg(rig: Rig) -> None:
    alice, bob = Phone(1, GUEST_PIN), Phone(2, GUEST_PIN)
    alice_port = await answered(rig, alice)
    await answered(rig, bob)
    alice_port.report(OSError(97, "Address family not supported"))  # as the default loop does
    rig.clock.advance(0.1)
    assert sorted(c.send_failures for c in rig.bridge.media_counters()) == [0, 1]
    assert rig.bridge.call_count() == 2
