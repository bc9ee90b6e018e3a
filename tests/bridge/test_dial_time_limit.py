"""A dialled call is hung up when it has been on the call for its time limit
(``dial_out_max_seconds``; issue 12, finding 6: a call nobody ends must not run up a bill).
Socket-free, on the fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.support.bridge_rig import CALLEE, CALLEE_MEDIA, GUEST, Rig, bridge_rig, reply
from tests.support.fake_network import Phone, phone_sdp
from tests.support.waiting import wait_until

from callroster.bridge.calls import CallState
from callroster.bridge.dial_target import MAX_CALL_SECONDS, DialTarget
from callroster.conference.events import LegJoined, LegLeft
from callroster.sdp.session import parse_sdp
from callroster.sip.message import Request

NUMBER = "+442079460555"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


async def _on_the_call(rig: Rig, max_seconds: float, *, press_to_accept: bool = True) -> str:
    """Dial, answer, press 1 (when asked): the call's id, once it is on the call."""
    target = DialTarget(NUMBER, CALLEE[0], CALLEE[1], trunk_id="trunk-1", max_seconds=max_seconds)
    await rig.bridge.dial_out(
        GUEST, target, "Bob", 30.0, requested_by="host-1", press_to_accept=press_to_accept
    )
    [invite] = [m for m in rig.network.take_sip() if isinstance(m, Request)]
    reply(rig, invite, 200, "OK", phone_sdp(*CALLEE_MEDIA))
    call_id = invite.get("Call-ID") or ""
    if press_to_accept:
        port = rig.network.ports[parse_sdp(invite.body).media[0].port]
        callee = Phone(3, "x")
        callee.media = CALLEE_MEDIA
        rig.clock.advance(1.0)
        for packet in callee.key("1"):
            port.deliver(packet, CALLEE_MEDIA)
    assert rig.bridge.call_states()[call_id] is CallState.JOINED
    assert len(rig.of(LegJoined)) == 1
    rig.network.take_sip()  # the ACK
    return call_id


def _requests(rig: Rig) -> list[str]:
    return [m.method for m in rig.network.take_sip() if isinstance(m, Request)]


async def test_a_dialled_guest_is_hung_up_at_the_time_limit(rig: Rig) -> None:
    call_id = await _on_the_call(rig, max_seconds=60.0)
    rig.clock.advance(59.9)
    assert _requests(rig) == [] and rig.bridge.call_states()[call_id] is CallState.JOINED
    rig.clock.advance(0.2)
    assert _requests(rig) == ["BYE"]
    [left] = rig.of(LegLeft)
    assert left.reason == "time_limit"
    assert rig.bridge.call_count() == 0
    await wait_until(lambda: rig.directory.written("call_finished"), 5, "the CDR", 0.002)
    [(_, outcome, status, _)] = rig.directory.written("call_finished")
    assert (outcome, status) == ("answered", 200)


async def test_click_to_call_legs_are_limited_too(rig: Rig) -> None:
    call_id = await _on_the_call(rig, max_seconds=30.0, press_to_accept=False)
    rig.clock.advance(29.9)
    assert rig.bridge.call_states()[call_id] is CallState.JOINED
    rig.clock.advance(0.2)
    assert _requests(rig) == ["BYE"]
    assert [e.reason for e in rig.of(LegLeft)] == ["time_limit"]


async def test_a_call_within_its_limit_stays_on(rig: Rig) -> None:
    """The control: the default limit (4 hours) does not end a call after a minute."""
    assert MAX_CALL_SECONDS == 4 * 3600
    call_id = await _on_the_call(rig, max_seconds=MAX_CALL_SECONDS)
    rig.clock.advance(61.0)
    assert _requests(rig) == [] and rig.bridge.call_states()[call_id] is CallState.JOINED
    assert rig.of(LegLeft) == []
