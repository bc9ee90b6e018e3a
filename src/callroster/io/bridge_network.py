"""The bridge's sockets on asyncio: the SIP listeners (UDP, TCP with a connection per peer,
and TLS when configured), outgoing TCP and TLS connections to trunks, and one UDP socket per
call's media. It moves bytes only; what they mean is the bridge's business
(``bridge/ports.py`` is the seam).

TLS (``io/sip_tls.py`` makes the contexts) is asyncio's own: a TLS connection is a stream
like a TCP one, its bytes handed up decrypted as transport ``"tls"``. A handshake must end
within ``TLS_HANDSHAKE_SECONDS``. Incoming TCP and TLS connections are counted per address
before anything else (a TLS one before its handshake, which costs the bridge about 2 ms of
CPU): beyond ``STREAMS_PER_ADDRESS`` at once, a new one is closed at once. A trunk's
certificate that fails verification is a :class:`~callroster.bridge.ports.ConnectFailure`
saying why (OpenSSL's reason), and nothing is sent to it; an incoming connection whose
client certificate was verified is noted as *certified* (``peer_certified``)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence

from callroster.bridge.ports import Address, ConnectFailure, OnError, Receive, family_of
from callroster.io.sip_tls import SipTls
from callroster.io.tasks import BackgroundTasks
from callroster.sip.events import Outgoing

log = logging.getLogger(__name__)
TCP_CONNECT_SECONDS = 5.0
TLS_HANDSHAKE_SECONDS = 10.0
# Incoming TCP/TLS connections from one address at once (an IPv6 address by its /64, as the
# call limits count it). A phone keeps one; a proxy in front of the bridge one or a few.
STREAMS_PER_ADDRESS = 32
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

    def __init__(self, media_addresses: Sequence[str], tls: SipTls | None = None) -> None:
        self._media_addresses = {family_of(address): address for address in media_addresses}
        self._tls = tls
        self._streams_from: dict[str, int] = {}  # incoming connections open, by address
        self._tls_listeners: list[socket.socket] = []
        self.streams_refused = 0
        self._udp: dict[str, asyncio.DatagramTransport] = {}  # by family
        self._tcp_servers: list[asyncio.Server] = []
        # Each stream connection by its peer's address, and whether it is "tcp" or "tls".
        self._tcp: dict[Address, tuple[str, asyncio.StreamWriter]] = {}
        self._certified: set[Address] = set()  # TLS peers whose client certificate verified
        self.tls_handshakes: list[float] = []  # seconds each trunk TLS connection took (last 100)
        self._tasks = BackgroundTasks("SIP connection")
        self._on_sip: OnSip = lambda data, source, transport: None
        self._on_closed: Callable[[Address], None] = lambda source: None

    async def listen(
        self,
        sip_sockets: Sequence[tuple[socket.socket, socket.socket]],
        on_sip: OnSip,
        on_closed: Callable[[Address], None],
        tls_sockets: Sequence[socket.socket] = (),
    ) -> None:
        """Take SIP from each (UDP, TCP) pair of listening sockets, and TLS on each of
        ``tls_sockets`` (with the server context of ``tls``); ``on_closed`` hears of a TCP
        or TLS peer gone."""
        self._on_sip, self._on_closed = on_sip, on_closed
        loop = asyncio.get_running_loop()
        for udp_socket, tcp_socket in sip_sockets:
            family = "IP6" if udp_socket.family == socket.AF_INET6 else "IP4"
            self._udp[family], _ = await loop.create_datagram_endpoint(
                lambda: _SipUdp(on_sip), sock=udp_socket
            )
            self._tcp_servers.append(await asyncio.start_server(self._accept_tcp, sock=tcp_socket))
        server_tls = self._tls.server if self._tls is not None else None
        for tls_socket in tls_sockets if server_tls is not None else ():
            assert server_tls is not None
            self._tls_listeners.append(tls_socket)
            self._tasks.spawn(self._accept_tls(tls_socket, server_tls))

    async def close(self) -> None:
        await self._tasks.cancel_all()
        for udp in self._udp.values():
            udp.close()
        for server in self._tcp_servers:
            server.close()
        for listening in self._tls_listeners:
            listening.close()
        for _, writer in self._tcp.values():
            writer.close()
        for server in self._tcp_servers:
            await server.wait_closed()

    def send_sip(self, datagram: Outgoing) -> None:
        if datagram.transport in ("tcp", "tls"):
            # Only down a connection of that kind: a message meant for TLS never goes out
            # in clear on a TCP connection to the same address.
            kind, writer = self._tcp.get(datagram.destination, ("", None))
            if writer is not None and kind == datagram.transport:
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

    def peer_certified(self, address: Address) -> bool | None:
        if self._tls is None or not self._tls.asks_client_certificates:
            return None
        return address in self._certified

    async def connect_sip_tls(self, address: Address, server_name: str) -> ConnectFailure | None:
        kind, _ = self._tcp.get(address, ("", None))
        if kind == "tls":
            return None
        if kind:
            return ConnectFailure(False, "a clear-text connection to that address is open")
        context = self._tls.client if self._tls is not None else _default_client()
        started = time.perf_counter()
        try:  # our own connection to the trunk, its certificate and name checked
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    *address,
                    ssl=context,
                    server_hostname=server_name,
                    ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS,
                ),
                TCP_CONNECT_SECONDS + TLS_HANDSHAKE_SECONDS,
            )
        except ssl.SSLCertVerificationError as exc:
            return ConnectFailure(True, exc.verify_message or str(exc))
        except ssl.SSLError as exc:
            return ConnectFailure(False, f"TLS handshake failed: {exc.reason or exc}")
        except (OSError, TimeoutError) as exc:
            return ConnectFailure(False, f"unreachable over TLS: {exc or 'timed out'}")
        self.tls_handshakes = [*self.tls_handshakes[-99:], time.perf_counter() - started]
        self._tcp[address] = ("tls", writer)  # at once: the INVITE is sent right after this
        self._tasks.spawn(self._serve_tcp(reader, writer, address, "tls"))
        return None

    async def connect_sip(self, address: Address) -> bool:
        if self._tcp.get(address, ("", None))[0] == "tcp":
            return True
        try:  # our own connection to the trunk; its responses come back on it
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*address), TCP_CONNECT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            log.warning("trunk %s:%s unreachable over TCP: %s", *address, exc)
            return False
        self._tcp[address] = ("tcp", writer)  # at once: the INVITE is sent right after this
        self._tasks.spawn(self._serve_tcp(reader, writer, address))
        return True

    def _admit_stream(self, host: str) -> str | None:
        """Counts an incoming connection from ``host`` against its address's limit; returns
        the key it was counted under, or None when the address has too many (the caller
        closes it)."""
        key = _address_key(host)
        if self._streams_from.get(key, 0) >= STREAMS_PER_ADDRESS:
            self.streams_refused += 1
            if self.streams_refused in (1, 10, 100) or self.streams_refused % 1000 == 0:
                log.warning(
                    "SIP: %d connections refused so far, over %d at once from one address",
                    self.streams_refused,
                    STREAMS_PER_ADDRESS,
                )
            return None
        self._streams_from[key] = self._streams_from.get(key, 0) + 1
        return key

    def _release_stream(self, key: str) -> None:
        left = self._streams_from.get(key, 0) - 1
        if left > 0:
            self._streams_from[key] = left
        else:
            self._streams_from.pop(key, None)

    async def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = self._admit_stream(str(writer.get_extra_info("peername")[0]))
        if key is None:
            writer.transport.abort()
            return
        try:
            await self._serve_tcp(reader, writer)
        finally:
            self._release_stream(key)

    async def _accept_tls(self, listening: socket.socket, context: ssl.SSLContext) -> None:
        """Accepts connections to the TLS port itself: each is counted against its address
        before a byte of it is read, and only then handed to the TLS layer for its handshake
        (``connect_accepted_socket``), so nothing can race the ClientHello."""
        loop = asyncio.get_running_loop()
        listening.setblocking(False)
        listening.listen(256)
        while True:
            try:
                connection, peer = await loop.sock_accept(listening)
            except OSError as exc:  # out of file descriptors, or the socket closed
                if listening.fileno() < 0:
                    return
                log.warning("SIP TLS: accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            key = self._admit_stream(str(peer[0]))
            if key is None:
                connection.close()
                continue
            self._tasks.spawn(self._handshake(connection, key, context))

    async def _handshake(
        self, connection: socket.socket, key: str, context: ssl.SSLContext
    ) -> None:
        """The TLS handshake of a counted connection, then SIP over it."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=65536)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            try:
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol,
                    connection,
                    ssl=context,
                    ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS,
                )
            except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
                connection.close()
                return
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            await self._serve_tls(reader, writer)
        finally:
            self._release_stream(key)

    async def _serve_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """An incoming TLS connection, handshake done; certified if the client presented a
        certificate the client CA verified (under CERT_OPTIONAL one that fails verification
        has already ended the handshake)."""
        peer = writer.get_extra_info("peername")
        source = (str(peer[0]), int(peer[1]))
        if writer.get_extra_info("peercert"):
            self._certified.add(source)
        try:
            await self._serve_tcp(reader, writer, source, "tls")
        finally:
            self._certified.discard(source)

    async def _serve_tcp(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: Address | None = None,
        kind: str = "tcp",
    ) -> None:
        if source is None:
            peer = writer.get_extra_info("peername")
            source = (str(peer[0]), int(peer[1]))
        self._tcp[source] = (kind, writer)
        try:
            while chunk := await reader.read(65536):
                self._on_sip(chunk, source, kind)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            if self._tcp.get(source, ("", None))[1] is writer:
                self._tcp.pop(source, None)
            self._on_closed(source)
            writer.close()


def _address_key(host: str) -> str:
    """Whom a connection is counted against: its IPv4 address, or its IPv6 /64."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _default_client() -> ssl.SSLContext:
    """Without settings (tests that build the network alone): the system's CA store."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
