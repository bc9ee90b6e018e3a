"""The keypad with guest PINs of 8 digits and host PINs of 10 in use (issue 12), through the
bridge on a fake clock: a 10-digit host PIN keyed slowly, whose first 8 digits are a guest
PIN, joins as host (never cut short); a guest's 8 digits without '#' are tried after the 2 s
pause."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.support.bridge_rig import ACCESS_NUMBER, GUEST_PIN, HOST, Rig, answered, bridge_rig
from tests.support.fake_network import FakePort, Phone
from tests.support.waiting import wait_until

from callroster.bridge.calls import CallState
from callroster.conference.events import LegJoined
from callroster.conference.pin_entry import PinState

LONG_HOST_PIN = GUEST_PIN + "90"  # begins with the guest PIN: cut at 8 it would join as guest


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        rig.directory.pins[LONG_HOST_PIN] = HOST
        assert rig.directory.pin_lengths() == frozenset({8, 10})
        yield rig


def _key(port: FakePort, phone: Phone, digit: str) -> None:
    for packet in phone.key(digit):
        port.deliver(packet, phone.media)


async def test_a_long_host_pin_keyed_slowly_joins_as_host(rig: Rig) -> None:
    phone = Phone(1, ACCESS_NUMBER)
    port = await answered(rig, phone)
    for digit in LONG_HOST_PIN[:-1]:
        _key(port, phone, digit)
        rig.clock.advance(1.5)  # slow, but each within the pause
        assert rig.bridge.pin_entry_state(phone.call_id) is PinState.COLLECTING
    _key(port, phone, LONG_HOST_PIN[-1])  # the longest length in use: tried at once
    await wait_until(
        lambda: rig.bridge.call_states()[phone.call_id] is CallState.JOINED, 5, "joining", 0.002
    )
    [joined] = rig.of(LegJoined)
    assert joined.details is not None and joined.details.role == "host"


async def test_a_guest_pin_without_hash_is_tried_after_the_pause(rig: Rig) -> None:
    phone = Phone(1, ACCESS_NUMBER)
    port = await answered(rig, phone)
    for digit in GUEST_PIN:
        _key(port, phone, digit)
        rig.clock.advance(0.2)
    rig.clock.advance(1.7)  # 1.9 s after the last digit
    assert rig.bridge.pin_entry_state(phone.call_id) is PinState.COLLECTING
    rig.clock.advance(0.2)
    await wait_until(
        lambda: rig.bridge.call_states()[phone.call_id] is CallState.JOINED, 5, "joining", 0.002
    )
    [joined] = rig.of(LegJoined)
    assert joined.details is not None and joined.details.role != "host"
