"""PIN guessing by phone, replayed socket-free on the fake clock: one source dialling wrong
PINs directly is answered as if they were right, slowed down, then blocked (its calls
refused 403 whatever they dial, so even the right PIN tells it nothing), with an audit entry;
a caller from elsewhere with the right PIN still joins at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.support.bridge_rig import GUEST_PIN, Rig, bridge_rig, final_answer
from tests.support.fake_network import Phone
from tests.support.waiting import wait_until

from callroster.bridge.calls import CallState
from callroster.bridge.pin_guard import POLICY_DEFAULT
from callroster.conference.pin_entry import PinState


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


async def _checked(rig: Rig, phone: Phone) -> float:
    """Advances the fake clock until the dialled PIN has been checked; the seconds it took."""
    started = rig.clock.time()
    for _ in range(400):
        state = rig.bridge.pin_entry_state(phone.call_id)
        if state is not None and state is not PinState.CHECKING:
            return rig.clock.time() - started
        rig.clock.advance(0.1)
        await asyncio.sleep(0.002)  # (the PIN is looked up in a thread)
    raise AssertionError("the dialled PIN was never checked")


def _guesser(n: int) -> Phone:
    phone = Phone(1, f"{10_000_000 + n}")  # the same source, 127.0.1.1, each time
    _new_call(phone, f"guess-{n}")
    return phone


def _new_call(phone: Phone, name: str) -> None:
    """Another call from the same phone: its own Call-ID, tag and branches."""
    phone.pid = 5000 + sum(name.encode())
    phone.call_id, phone.from_tag = f"{name}@127.0.1.1", f"{name}-tag"


async def test_a_guesser_is_answered_slowed_then_blocked(rig: Rig) -> None:
    waits = []
    for n in range(POLICY_DEFAULT.block_after):
        phone = _guesser(n)
        assert (await final_answer(rig, phone)).status == 200  # answered, like a right PIN
        waits.append(await _checked(rig, phone))
        assert rig.bridge.pin_entry_state(phone.call_id) is PinState.COLLECTING  # asked again
    assert sum(waits) >= 50  # slowed: the checks waited a minute between them
    # Blocked now: refused before any PIN is looked at, the right one too.
    assert (await final_answer(rig, _guesser(99))).status == 403
    right_from_there = Phone(1, GUEST_PIN)
    _new_call(right_from_there, "right-from-the-guesser")
    assert (await final_answer(rig, right_from_there)).status == 403
    await wait_until(lambda: rig.directory.written("security_event"), 5, "the audit entry")
    [(event,)] = rig.directory.written("security_event")
    assert (event.kind, event.source) == ("blocked", "127.0.1.1")
    # Someone else, elsewhere, with the right PIN: joins at once.
    caller = Phone(2, GUEST_PIN)
    assert (await final_answer(rig, caller)).status == 200
    assert await _checked(rig, caller) < 0.5
    await wait_until(lambda: rig.bridge.call_states()[caller.call_id] is CallState.JOINED, 5, "")
