"""A trusted peer over TLS, socket-free (the bridge on a fake clock and network): with client
certificates asked for (``sip_tls_client_ca_file``), an address in ``sip_trusted_peers`` is
believed over TLS only on a connection whose client certificate the CA verified; without
one it is an ordinary caller (its P-Asserted-Identity dropped, its From shown unverified).
Over UDP and TCP, and with no client CA at all, the address alone decides, as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from tests.support.bridge_rig import (
    ACCESS_NUMBER,
    GUEST,
    GUEST_PIN,
    Rig,
    answered,
    final_answer,
)
from tests.support.clock import FakeClock
from tests.support.fake_network import FakeNetwork, Phone, TableDirectory
from tests.support.waiting import wait_until

from callroster.bridge.call_limits import CallLimits
from callroster.bridge.caller_id import TrustedPeers
from callroster.bridge.calls import CallState
from callroster.bridge.service import BridgeService
from callroster.bus import EventBus
from callroster.conference.events import LegJoined

CARRIER = "127.0.9.1"  # a trusted peer: a carrier edge in front of the bridge
ASSERTED = "+447700900201"
CLAIMED = "+447700900999"  # its From


@asynccontextmanager
async def rig(per_source: int = 20) -> AsyncIterator[Rig]:
    clock, network, bus = FakeClock(), FakeNetwork(), EventBus()
    directory = TableDirectory({GUEST_PIN: GUEST}, dial_in_numbers=[ACCESS_NUMBER])
    bridge = BridgeService(
        directory,
        bus,
        media_addresses=("127.0.0.1",),
        clock=clock,
        network=network,
        trusted_peers=TrustedPeers((CARRIER,)),
        call_limits=CallLimits(per_source=per_source, trusted=(CARRIER,)),
    )
    rig = Rig(bridge, clock, network, directory, bus)
    bus.subscribe(rig.events.append)
    await bridge.start(sip_port=5060, tls_port=5061)
    try:
        yield rig
    finally:
        await bridge.stop()


@pytest.mark.parametrize(
    ("transport", "certified", "verified"),
    [
        ("tls", True, True),  # the client CA verified its certificate
        ("tls", False, False),  # no (verified) certificate: an ordinary caller
        ("tls", None, True),  # no client certificates asked for: the address decides
        ("udp", False, True),  # over UDP the address decides (a UDP source is no TLS peer)
    ],
    ids=["tls-certified", "tls-uncertified", "tls-no-client-ca", "udp"],
)
async def test_a_trusted_address_over_tls_needs_a_verified_certificate(
    transport: str, certified: bool | None, verified: bool
) -> None:
    async with rig() as r:
        phone = Phone(1, GUEST_PIN, caller=CLAIMED, host=CARRIER, asserted=ASSERTED)
        phone.arrives_over = transport
        if certified is not None:
            r.network.certified[phone.source] = certified
        await answered(r, phone)
        await wait_until(
            lambda: r.bridge.call_states().get(phone.call_id) is CallState.JOINED, 5, "joining"
        )
        joined = r.of(LegJoined)[-1]
        assert isinstance(joined, LegJoined) and joined.details is not None
        assert r.bridge.signalling_of(joined.leg_id) == transport
    # Believed: the asserted number, verified; else its P-Asserted-Identity is dropped and
    # the number shown is its From, unverified.
    assert joined.details.number_verified is verified
    assert joined.details.number == (ASSERTED if verified else CLAIMED)


@pytest.mark.parametrize(("certified", "second"), [(True, 200), (False, 503)])
async def test_an_uncertified_tls_peer_is_bounded_as_any_caller(
    certified: bool, second: int
) -> None:
    """One call per address: the trusted carrier with its certificate is exempt and gets
    its second call in; over TLS without one it is bounded as any caller: 503."""
    async with rig(per_source=1) as r:
        for number in (1, 2):
            phone = Phone(number, GUEST_PIN, host=CARRIER)
            phone.arrives_over = "tls"
            r.network.certified[phone.source] = certified
            answer = await final_answer(r, phone)
            assert answer.status == (200 if number == 1 else second)
