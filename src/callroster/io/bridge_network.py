"""The bridge's sockets on asyncio: the SIP listeners (UDP, and TCP with a connection per
peer), outgoing TCP connections to trunks, and one UDP socket per call's media. It moves
bytes only; what they mean is the bridge's business (``bridge/ports.py`` is the seam)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

from callroster.bridge.ports import Address, OnError, Receive, family_of
from callroster.io.tasks import BackgroundTasks
from callroster.sip.events import Outgoing

log = logging.getLogger(__name__)
TCP_CONNECT_SECONDS = 5.0
OnSip = Callable[[bytes, Address, str], None]


class _SipUdp(asyncio.DatagramProtocol):
    def __init__(self, on_sip: OnSip) -> None:
        self._on_sip = on_sip

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._on_sip(data, (str(addr[0]), int(addr[1])), "udp")


class _Media(asyncio.DatagramProtocol):
    """One call's media socket. ``datagram_received`` is replaced by the bridge's receiver
    itself (no call in between: this runs for every packet of every leg). Errors the socket
    reports (ICMP unreachable for an earlier packet; under the default loop, also a send it
    refused, which uvloop raises instead) go to the leg, to be counted there."""

    def __init__(self, receive: Receive, on_error: OnError) -> None:
        self.datagram_received = receive  # type: ignore[method-assign,assignment]
        self.error_received = on_error  # type: ignore[method-assign,assignment]


class AsyncioNetwork:
    """:class:`callroster.bridge.ports.Network` on real sockets: SIP on each listening
    address (one, or one per family), each message out of the socket of its destination's
    family; media sockets on the media address of the family asked for."""

    def __init__(self, media_addresses: Sequence[str]) -> None:
        self._media_addresses = {family_of(address): address for address in media_addresses}
        self._udp: dict[str, asyncio.DatagramTransport] = {}  # by family
        self._tcp_servers: list[asyncio.Server] = []
        self._tcp: dict[Address, asyncio.StreamWriter] = {}
        self._tasks = BackgroundTasks("SIP connection")
        self._on_sip: OnSip = lambda data, source, transport: None
        self._on_closed: Callable[[Address], None] = lambda source: None

    async def listen(
        self,
        sip_sockets: Sequence[tuple[socket.socket, socket.socket]],
        on_sip: OnSip,
        on_closed: Callable[[Address], None],
    ) -> None:
        """Take SIP from each (UDP, TCP) pair of listening sockets; ``on_closed`` hears of a
        TCP peer gone."""
        self._on_sip, self._on_closed = on_sip, on_closed
        loop = asyncio.get_running_loop()
        for udp_socket, tcp_socket in sip_sockets:
            family = "IP6" if udp_socket.family == socket.AF_INET6 else "IP4"
            self._udp[family], _ = await loop.create_datagram_endpoint(
                lambda: _SipUdp(on_sip), sock=udp_socket
            )
            self._tcp_servers.append(await asyncio.start_server(self._serve_tcp, sock=tcp_socket))

    async def close(self) -> None:
        await self._tasks.cancel_all()
        for udp in self._udp.values():
            udp.close()
        for server in self._tcp_servers:
            server.close()
        for writer in self._tcp.values():
            writer.close()
        for server in self._tcp_servers:
            await server.wait_closed()

    def send_sip(self, datagram: Outgoing) -> None:
        if datagram.transport == "tcp":
            writer = self._tcp.get(datagram.destination)
            if writer is not None:
                writer.write(datagram.data)
            return
        udp = self._udp.get(family_of(datagram.destination[0]))
        if udp is not None:  # (a destination of a family we do not listen on: nowhere)
            udp.sendto(datagram.data, datagram.destination)

    async def open_rtp(
        self, receive: Receive, on_error: OnError, family: str = "IP4"
    ) -> tuple[asyncio.DatagramTransport, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Media(receive, on_error), local_addr=(self._media_addresses[family], 0)
        )
        return transport, int(transport.get_extra_info("sockname")[1])

    async def connect_sip(self, address: Address) -> bool:
        if address in self._tcp:
            return True
        try:  # our own connection to the trunk; its responses come back on it
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*address), TCP_CONNECT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            log.warning("trunk %s:%s unreachable over TCP: %s", *address, exc)
            return False
        self._tasks.spawn(self._serve_tcp(reader, writer, address))
        return True

    async def _serve_tcp(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: Address | None = None,
    ) -> None:
        if source is None:
            peer = writer.get_extra_info("peername")
            source = (str(peer[0]), int(peer[1]))
        self._tcp[source] = writer
        try:
            while chunk := await reader.read(65536):
                self._on_sip(chunk, source, "tcp")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tcp.pop(source, None)
            self._on_closed(source)
            writer.close()
