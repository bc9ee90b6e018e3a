"""A flood of calls, socket-free on the fake clock: one source gets 20 calls at once and
then 503 with Retry-After, a trusted proxy is exempt, callers who have not given a right PIN
hold at most a tenth of the bridge (then the one longest there makes room), and they are
timed out sooner while the prompt is busy; someone else still gets in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.support.bridge_rig import ACCESS_NUMBER, GUEST_PIN, Rig, bridge_rig, final_answer
from tests.support.fake_network import Phone, phone_sdp
from tests.support.waiting import wait_until

from callroster.bridge.call_limits import CallLimits
from callroster.bridge.calls import CallState
from callroster.sip.message import Response


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


def _from(host: str, n: int, dialled: str = ACCESS_NUMBER) -> Phone:
    phone = Phone(1, dialled, host=host)
    phone.pid = 6000 + n
    phone.call_id, phone.from_tag = f"flood-{n}@{host}", f"flood-{n}"
    return phone


def test_the_limits_alone() -> None:
    limits = CallLimits(per_source=2, max_calls=100, pin_share=0.1, trusted=("10.0.0.0/8",))
    assert limits.refuse("192.0.2.1", 1, 0) is None
    assert limits.refuse("192.0.2.1", 2, 0) == "per_source"
    assert limits.refuse("10.1.2.3", 500, 0) is None  # a trusted proxy
    assert limits.refuse("192.0.2.9", 0, 10) == "pin_prompt_full"
    assert limits.pin_deadline(5) == limits.pin_time_limit
    assert limits.pin_deadline(6) == limits.pin_time_limit_busy


async def test_one_source_gets_its_share_then_503_and_another_still_joins(rig: Rig) -> None:
    statuses = [(await final_answer(rig, _from("127.0.1.1", n))).status for n in range(25)]
    assert statuses == [200] * 20 + [503] * 5
    refused = await final_answer(rig, _from("127.0.1.1", 99))
    assert refused.get("Retry-After") == "30"
    someone = Phone(2, GUEST_PIN)
    assert (await final_answer(rig, someone)).status == 200
    await wait_until(
        lambda: rig.bridge.call_states().get(someone.call_id) is CallState.JOINED, 5, "joining"
    )


async def test_callers_at_the_pin_prompt_hold_a_share_and_are_timed_out_sooner() -> None:
    limits = CallLimits(per_source=100, max_calls=100, pin_share=0.1)  # 10 at the prompt
    async with bridge_rig(call_limits=limits) as rig:
        hosts = [f"127.0.2.{n}" for n in range(12)]
        statuses = [(await final_answer(rig, _from(h, n))).status for n, h in enumerate(hosts)]
        assert statuses == [200] * 10 + [503] * 2
        # Busy (more than half the share): the prompt lets each go after 20 s, not 90.
        for _ in range(21 * 50):
            rig.clock.advance(0.02)
        await wait_until(lambda: rig.bridge.call_count() == 0, 5, "the prompt to empty")
        # A right PIN from a new address joins once there is room again.
        caller = Phone(3, GUEST_PIN)
        assert (await final_answer(rig, caller)).status == 200


async def test_a_full_pin_prompt_makes_room_for_a_new_caller_by_ending_the_longest_there() -> None:
    limits = CallLimits(per_source=100, max_calls=100, pin_share=0.1)  # 10 at the prompt
    async with bridge_rig(call_limits=limits) as rig:
        flood = [_from(f"127.0.3.{n}", 100 + n) for n in range(10)]
        for phone in flood:
            assert (await final_answer(rig, phone)).status == 200
        assert (await final_answer(rig, _from("127.0.3.99", 199))).status == 503  # too soon
        for _ in range(int(limits.evict_after / 0.02) + 5):
            rig.clock.advance(0.02)
        caller = Phone(4, GUEST_PIN)  # dials the PIN directly, from another address
        assert (await final_answer(rig, caller)).status == 200
        await wait_until(
            lambda: rig.bridge.call_states().get(caller.call_id) is CallState.JOINED, 5, "joining"
        )
        states = rig.bridge.call_states()
        assert flood[0].call_id not in states  # the longest at the prompt made room
        assert all(phone.call_id in states for phone in flood[1:])


async def test_calls_still_being_routed_make_room_too_but_never_one_dialling_a_pin() -> None:
    """Under load a flood's calls wait longest before the prompt, while their media socket
    opens (held here until the test says). They fill the prompt's share, where none could
    make room; the one longest there is refused 503 instead, and a caller dialling the PIN
    directly gets in. A caller whose PIN is still being routed is never the one to go."""
    limits = CallLimits(per_source=100, max_calls=100, pin_share=0.1)  # 10 at the prompt
    async with bridge_rig(call_limits=limits) as rig:
        warm = _from("127.0.4.200", 400)  # the access number, found once and then known
        assert (await final_answer(rig, warm)).status == 200
        warm.send(rig.bridge, warm.request("BYE"))
        await wait_until(lambda: rig.bridge.call_count() == 0, 5, "the first call to end")

        rig.network.rtp_gate = asyncio.Event()
        flood = [_from(f"127.0.4.{n}", 300 + n) for n in range(10)]
        for n, phone in enumerate(flood):
            phone.send(rig.bridge, phone.invite(body=phone_sdp(*phone.media)))
            await asyncio.sleep(0)  # each one is counted before the next arrives
            if n == 0:
                rig.clock.advance(0.2)  # the first is older than the rest
        refused_early = _from("127.0.4.99", 399)
        assert (await final_answer(rig, refused_early)).status == 503  # too soon to make room
        rig.clock.advance(limits.evict_after)
        caller = Phone(5, GUEST_PIN)  # dials the PIN directly: routed, not yet checked
        caller.send(rig.bridge, caller.invite(body=phone_sdp(*caller.media)))
        seen: list[Response] = []  # (rig.responses hands each response out once)
        await wait_until(
            lambda: seen.extend(rig.responses(flood[0].call_id)) or seen, 5, "the oldest refused"
        )
        [made_room] = [r for r in seen if r.status >= 200]
        assert (made_room.status, made_room.get("Retry-After")) == (503, "30")
        # Another flood call now: the caller dialling the PIN is never the one to go.
        late = _from("127.0.4.98", 398)
        late.send(rig.bridge, late.invite(body=phone_sdp(*late.media)))

        rig.network.rtp_gate.set()
        answers: list[Response] = []
        await wait_until(
            lambda: any(
                r.status >= 200 for r in answers.extend(rig.responses(caller.call_id)) or answers
            ),
            5,
            "the caller's answer",
        )
        assert [r.status for r in answers if r.status >= 200] == [200]
        assert flood[0].call_id not in rig.bridge.call_states()  # its routing stopped
        assert rig.bridge.calls_refused()["pin_prompt_evicted"] == 2, rig.bridge.calls_refused()
