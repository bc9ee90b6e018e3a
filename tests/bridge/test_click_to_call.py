"""Click-to-call on the socket-free bridge: the host's phone first, then the target, the
two bridged, and the summary the CRM gets, with times from the fake clock. (The same with
real phones: tests/interop/test_click_to_call.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.support.bridge_rig import CALLEE, Rig, bridge_rig, far_end_bye, reply
from tests.support.fake_network import phone_sdp
from tests.support.waiting import wait_until

from callroster.bridge.click_to_call import CallSummary, ClickToCall
from callroster.bridge.dial_target import DialTarget
from callroster.conference.events import LegJoined, LegLeft
from callroster.sip.message import Request

HOST_PHONE = ("127.0.3.1", 5070)
HOST_TARGET = DialTarget(number="+447700900200", host=HOST_PHONE[0], port=HOST_PHONE[1])
TARGET = DialTarget(number="+447700900555", host=CALLEE[0], port=CALLEE[1])


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


async def _start(rig: Rig, ended: list[CallSummary]) -> tuple[str, ClickToCall]:
    click = ClickToCall(rig.bridge, rig.bus, rig.clock.wall)
    call_id = await click.start("acct-1", HOST_TARGET, TARGET, "host-1", 30.0, ended.append)
    return call_id, click


async def _invite(rig: Rig, to: tuple[str, int]) -> Request:
    found: list[Request] = []

    def sent() -> bool:
        found.extend(
            m
            for m in rig.network.take_sip()
            if isinstance(m, Request) and m.method == "INVITE" and f"@{to[0]}:" in m.uri
        )
        return bool(found)

    await wait_until(sent, 5, f"an INVITE to {to}", 0.002)
    return found[0]


async def test_the_host_then_the_target_are_bridged_and_the_call_is_summed_up(rig: Rig) -> None:
    ended: list[CallSummary] = []
    started = rig.clock.wall()
    call_id, click = await _start(rig, ended)
    to_host = await _invite(rig, HOST_PHONE)
    reply(rig, to_host, 200, "OK", phone_sdp("127.0.3.1", 9100), peer=HOST_PHONE)
    to_target = await _invite(rig, CALLEE)  # only once the host answered
    rig.clock.advance(3.0)
    reply(rig, to_target, 200, "OK", phone_sdp(CALLEE[0], 9000))
    conference = rig.bridge.conference(call_id)
    assert conference is not None and len(conference.connected()) == 2
    assert len(rig.of(LegJoined)) == 2
    rig.clock.advance(42.0)
    rig.bridge.on_sip(far_end_bye(to_host, HOST_PHONE), HOST_PHONE, "udp")  # the host hangs up
    await asyncio.sleep(0)  # click-to-call reacts once the bridge's change is over
    rig.clock.advance(5.0)  # the target hears goodbye, then gets a BYE
    assert [e.reason for e in rig.of(LegLeft)] == ["hangup", "dropped"]
    await wait_until(lambda: ended, 5, "the summary", 0.002)
    [summary] = ended
    assert (summary.call_id, summary.outcome, summary.failed_leg) == (call_id, "answered", None)
    assert summary.target_number == "+447700900555" and summary.requested_by == "host-1"
    assert summary.started_at == started
    assert (summary.answered_at - started).total_seconds() == 3.0  # type: ignore[operator]
    assert summary.duration_s == 42
    assert click.in_progress() == 0 and rig.bridge.call_count() == 0
    # A private room: call detail records for both legs, no leg rows.
    assert len(rig.directory.written("call_started")) == 2
    assert rig.directory.written("leg_joined") == []


async def test_a_busy_host_means_the_target_is_never_called(rig: Rig) -> None:
    ended: list[CallSummary] = []
    call_id, _ = await _start(rig, ended)
    to_host = await _invite(rig, HOST_PHONE)
    reply(rig, to_host, 486, "Busy Here", peer=HOST_PHONE)
    await wait_until(lambda: ended, 5, "the summary", 0.002)
    [summary] = ended
    assert (summary.outcome, summary.failed_leg, summary.duration_s) == ("busy", "host", 0)
    assert not [m for m in rig.network.take_sip() if isinstance(m, Request) and "@127.0.2" in m.uri]


async def test_a_target_that_never_answers_ends_the_hosts_call_too(rig: Rig) -> None:
    ended: list[CallSummary] = []
    await _start(rig, ended)
    to_host = await _invite(rig, HOST_PHONE)
    reply(rig, to_host, 200, "OK", phone_sdp("127.0.3.1", 9100), peer=HOST_PHONE)
    to_target = await _invite(rig, CALLEE)
    reply(rig, to_target, 180, "Ringing")
    for _ in range(40):  # the 30 s ring time, then the host hears goodbye
        rig.clock.advance(1.0)
        await asyncio.sleep(0)
    await wait_until(lambda: ended, 5, "the summary", 0.002)
    [summary] = ended
    assert (summary.outcome, summary.failed_leg, summary.answered_at) == (
        "no_answer",
        "target",
        None,
    )
    assert rig.bridge.call_count() == 0
