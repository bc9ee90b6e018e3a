"""An INVITE without SDP (a delayed offer, RFC 3261 13.2.1 and RFC 3264; Cisco CUCM trunks,
many PBXs and SBCs send them) is answered 200 with our offer; the ACK brings the answer, and
only then is the caller admitted or asked for the PIN. No usable answer: BYE. Socket-free,
on the fake clock (tests/support/bridge_rig.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from tests.support.bridge_rig import ACCESS_NUMBER, GUEST_PIN, Rig, answered, bridge_rig
from tests.support.fake_network import FakePort, Phone, phone_sdp, tone
from tests.support.waiting import wait_until

from callroster.bridge.calls import CallState
from callroster.conference.events import LegJoined
from callroster.rtp import g711
from callroster.sdp.session import parse_sdp
from callroster.sip.message import Request, Response, serialise


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


async def _offered(rig: Rig, phone: Phone) -> tuple[Response, FakePort]:
    """Dial with no SDP; the 200 (with our offer) and the media port it names."""
    invite = phone.request("INVITE")  # no body, no Content-Type
    phone.invite_request = invite
    phone.send(rig.bridge, invite)
    found: list[Response] = []

    def ok() -> bool:
        found.extend(r for r in rig.responses(phone.call_id) if r.status == 200)
        return bool(found)

    await wait_until(ok, 5, "the 200 OK", 0.002)
    phone.learn(serialise(found[0]))
    offer = parse_sdp(found[0].body)
    return found[0], rig.network.ports[offer.media[0].port]


def _ack(phone: Phone, body: bytes) -> Request:
    return phone.request("ACK", cseq=1, body=body, content_type="application/sdp" if body else None)


async def test_a_delayed_offer_gets_ours_and_the_caller_joins_with_audio_both_ways(
    rig: Rig,
) -> None:
    trunk = Phone(1, GUEST_PIN)
    ok, trunk_port = await _offered(rig, trunk)
    offer = parse_sdp(ok.body)
    assert ok.get("Content-Type") == "application/sdp"
    assert [(m.media, m.proto) for m in offer.media] == [("audio", "RTP/AVP")]
    assert rig.bridge.call_states()[trunk.call_id] is CallState.OFFERED
    rig.clock.advance(1.0)
    assert trunk_port.sent == [] and not rig.of(LegJoined)  # nowhere to send yet
    trunk.send(rig.bridge, _ack(trunk, phone_sdp(*trunk.media)))
    await wait_until(  # the PIN in its URI is checked once the ACK brought the answer
        lambda: rig.bridge.call_states()[trunk.call_id] is CallState.JOINED, 5, "joining", 0.002
    )
    assert rig.bridge.call_history(trunk.call_id) == [
        CallState.OFFERED,
        CallState.PIN,
        CallState.JOINED,
    ]
    listener = Phone(2, GUEST_PIN)
    listener_port = await answered(rig, listener)
    speech = tone(1000.0)
    noise = np.random.default_rng(5).normal(0, 30, (225, g711.FRAME_SAMPLES))
    for n in range(225):  # 3 s of line noise, then the trunk's caller talks for 1.5 s
        pcm = speech(n) if n >= 150 else noise[n].astype(np.int16)
        trunk_port.deliver(trunk.audio(pcm), trunk.media)
        rig.clock.advance(0.02)
    heard = np.concatenate(
        [g711.decode("PCMU", p.payload) for p in listener_port.packets()[-40:]]
    ).astype(np.float64)
    peak = np.fft.rfftfreq(len(heard), 1 / 8000)[np.argmax(np.abs(np.fft.rfft(heard)))]
    assert abs(peak - 1000.0) < 20
    to_trunk = trunk_port.sent
    assert len(to_trunk) >= 225 and {address for _, address in to_trunk} == {trunk.media}


async def test_a_delayed_offer_to_the_access_number_is_asked_for_the_pin(rig: Rig) -> None:
    phone = Phone(1, ACCESS_NUMBER)
    _, port = await _offered(rig, phone)
    phone.send(rig.bridge, _ack(phone, phone_sdp(*phone.media)))
    assert rig.bridge.call_history(phone.call_id) == [CallState.OFFERED, CallState.PIN]
    rig.clock.advance(1.0)
    assert len(port.packets()) >= 49  # the welcome prompt, a packet every 20 ms
    for digit in GUEST_PIN:
        for packet in phone.key(digit):
            port.deliver(packet, phone.media)
        rig.clock.advance(0.1)
    await wait_until(
        lambda: rig.bridge.call_states().get(phone.call_id) is CallState.JOINED,
        5,
        "joining",
        0.002,
    )


@pytest.mark.parametrize(
    ("answer", "what"),
    [(b"", "no answer at all"), (b"v=0\r\nnot sdp\r\n", "a malformed one")],
)
async def test_an_ack_without_a_usable_answer_ends_the_call(
    rig: Rig, answer: bytes, what: str
) -> None:
    phone = Phone(1, GUEST_PIN)
    _, port = await _offered(rig, phone)
    phone.send(rig.bridge, _ack(phone, answer))
    sent = [m.method for m in rig.network.take_sip() if isinstance(m, Request)]
    assert sent == ["BYE"], what
    assert port.closed and rig.bridge.call_count() == 0 and not rig.of(LegJoined)
