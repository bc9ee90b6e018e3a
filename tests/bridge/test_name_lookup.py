"""The caller's name, socket-free (the bridge on a fake clock and network): looked up only
for a number a trusted peer asserted, and only in the conference's own account; a number
anyone could have written is shown, marked unverified, with no name (issue 12, finding 5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from tests.support.bridge_rig import ACCESS_NUMBER, GUEST, GUEST_PIN, Rig, answered
from tests.support.clock import FakeClock
from tests.support.fake_network import FakeNetwork, Phone, TableDirectory
from tests.support.waiting import wait_until

from callroster.bridge.caller_id import TrustedPeers
from callroster.bridge.calls import CallState
from callroster.bridge.service import BridgeService
from callroster.bus import EventBus
from callroster.conference.events import LegJoined

CARRIER = "127.0.9.1"  # the trusted peer: a carrier edge in front of the bridge
OWN_USER = "+447700900201"  # a user of the conference's own account (acct-1)
OTHER_USER = "+447700900202"  # a user of another account
EVERYWHERE = "+447700900203"  # a name the table gives whoever asks


@asynccontextmanager
async def rig_trusting(*networks: str) -> AsyncIterator[Rig]:
    """As tests/support/bridge_rig.py's rig, with ``networks`` as the trusted SIP peers and
    names in two accounts."""
    clock, network, bus = FakeClock(), FakeNetwork(), EventBus()
    directory = TableDirectory(
        {GUEST_PIN: GUEST},
        dial_in_numbers=[ACCESS_NUMBER],
        names={EVERYWHERE: ("Eve Everywhere", "directory")},
        names_by_account={
            GUEST.account_id: {OWN_USER: ("Olive Own", "user")},
            "acct-2": {OTHER_USER: ("Oscar Confidential-Client", "user")},
        },
    )
    bridge = BridgeService(
        directory,
        bus,
        media_addresses=("127.0.0.1",),
        clock=clock,
        network=network,
        trusted_peers=TrustedPeers(networks),
    )
    rig = Rig(bridge, clock, network, directory, bus)
    bus.subscribe(rig.events.append)
    await bridge.start(sip_port=5060)
    try:
        yield rig
    finally:
        await bridge.stop()


async def _joined(rig: Rig, phone: Phone) -> LegJoined:
    await answered(rig, phone)
    await wait_until(
        lambda: rig.bridge.call_states().get(phone.call_id) is CallState.JOINED, 5, "joining"
    )
    joined = rig.of(LegJoined)[-1]
    assert isinstance(joined, LegJoined)
    return joined


async def _the_name_written(rig: Rig, leg_id: str) -> tuple[str | None, str | None]:
    await wait_until(
        lambda: any(args[0] == leg_id for args in rig.directory.written("leg_renamed")),
        5,
        "the name",
        0.002,
    )
    [(_, name, source)] = [a for a in rig.directory.written("leg_renamed") if a[0] == leg_id]
    return name, source


async def test_an_asserted_number_from_a_trusted_peer_is_verified_and_named() -> None:
    async with rig_trusting("127.0.9.0/30") as rig:
        phone = Phone(1, GUEST_PIN, caller="+447700900999", host=CARRIER, asserted=OWN_USER)
        joined = await _joined(rig, phone)
        assert joined.details is not None
        assert (joined.details.number, joined.details.number_verified) == (OWN_USER, True)
        assert await _the_name_written(rig, joined.leg_id) == ("Olive Own", "user")
        # Asked in the conference's own account, never another's.
        assert rig.directory.name_lookups == [(GUEST.account_id, OWN_USER)]


async def test_another_accounts_user_is_not_named_even_when_verified() -> None:
    async with rig_trusting(CARRIER) as rig:
        phone = Phone(1, GUEST_PIN, host=CARRIER, asserted=OTHER_USER)
        joined = await _joined(rig, phone)
        assert joined.details is not None and joined.details.number_verified
        await wait_until(lambda: rig.directory.name_lookups, 5, "the look-up", 0.002)
        assert rig.directory.name_lookups == [(GUEST.account_id, OTHER_USER)]
        await rig.bridge.stop()  # the look-up's task is done or cancelled: nothing more comes
        assert rig.directory.written("leg_renamed") == []


@pytest.mark.parametrize(
    ("host", "asserted", "caller"),
    [
        ("127.0.1.1", OWN_USER, "+447700900999"),  # PAI from an untrusted source
        ("127.0.1.1", None, OWN_USER),  # From only, untrusted source
        (CARRIER, None, OWN_USER),  # From only, even from the trusted peer
        ("127.0.1.1", EVERYWHERE, "+447700900999"),  # a name anyone would be given
    ],
    ids=["pai-untrusted", "from-untrusted", "from-trusted", "directory-untrusted"],
)
async def test_a_claimed_number_is_shown_unverified_and_gets_no_name(
    host: str, asserted: str | None, caller: str
) -> None:
    async with rig_trusting(CARRIER) as rig:
        phone = Phone(1, GUEST_PIN, caller=caller, host=host, asserted=asserted)
        joined = await _joined(rig, phone)
        assert joined.details is not None
        assert joined.details.number == (asserted or caller)
        assert joined.details.number_verified is False
        await wait_until(lambda: rig.directory.written("leg_joined"), 5, "the leg stored", 0.002)
        await rig.bridge.stop()
        assert rig.directory.name_lookups == []
        assert rig.directory.written("leg_renamed") == []
