"""The media sockets on a real event loop report what goes wrong to the leg, not to the
loop: a packet the socket refuses (an IPv6 address on an IPv4 socket, which the default loop
reports instead of raising). An ICMP port unreachable for an earlier packet is not reported
at all to an unconnected UDP socket on Linux (it would need IP_RECVERR), so it can neither
stop the tick nor be counted: a far end that has gone shows as nothing_received instead."""

from __future__ import annotations

import asyncio
import socket

from tests.support.waiting import wait_until

from callroster.io.bridge_network import AsyncioNetwork


def _closed_udp_port() -> int:
    """A loopback UDP port that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_errors_a_media_socket_reports_reach_the_legs_handler() -> None:
    network = AsyncioNetwork(["127.0.0.1"])
    received: list[bytes] = []
    errors: list[Exception] = []
    port, number = await network.open_rtp(lambda data, source: received.append(data), errors.append)
    try:
        # An address of the wrong family: refused at once, on whichever loop this is.
        try:
            port.sendto(b"\x80" * 172, ("::1", 9))
        except OSError as exc:  # uvloop raises it; the bridge counts it in media_tick._send
            errors.append(exc)
        assert len(errors) == 1 and isinstance(errors[0], OSError)
        # An ICMP port unreachable: nothing reported, nothing raised; the socket goes on.
        for _ in range(5):
            port.sendto(b"\x80" * 172, ("127.0.0.1", _closed_udp_port()))
        await asyncio.sleep(0.05)
        assert len(errors) == 1
        # Positive control: the socket still works for a real peer.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.sendto(b"hello", ("127.0.0.1", number))
            await wait_until(lambda: received == [b"hello"], 5, "the datagram")
    finally:
        port.close()
