"""SIP over UDP and TCP on the same port: a thin adapter around ``callroster.sip.message``.

What it answers today: OPTIONS (health checks) with 200 OK; every other request that needs
an answer gets 480 Temporarily Unavailable, because the conference bridge (dial-in audio) is
not built yet; a malformed message gets 400 and touches nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import cast

from callroster.sip.message import (
    BadRequest,
    Request,
    Response,
    SipError,
    parse_message,
    parse_stream,
    response_to,
    serialise,
)

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"
MAX_TCP_BUFFER = 256 * 1024


def answer(request: Request) -> Response | None:
    """The reply to one request, or None for ACK (which is never answered)."""
    if request.method == "ACK":
        return None
    if request.method == "OPTIONS":
        return response_to(
            request,
            200,
            "OK",
            to_tag="callroster",
            extra_headers=[("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "timer")],
        )
    return response_to(
        request,
        480,
        "Temporarily Unavailable",
        to_tag="callroster",
        extra_headers=[("Warning", '399 callroster "bridge not available"')],
    )


def _reply_bytes(data: bytes) -> bytes | None:
    try:
        message = parse_message(data)
    except BadRequest as exc:
        log.info("sip: dropped a malformed message (%s)", exc)
        return None
    except SipError as exc:
        log.info("sip: refused a message: %s", exc)
        return None
    if isinstance(message, Response):
        return None
    try:
        reply = answer(message)
    except SipError as exc:
        reply = exc.response_for(message)
    return serialise(reply) if reply is not None else None


class SipUdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport does not subclass asyncio.DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if not data.strip():  # CRLF keep-alive
            return
        reply = _reply_bytes(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def _serve_tcp_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    buffer = bytearray()
    try:
        while chunk := await reader.read(65536):
            buffer += chunk
            if len(buffer) > MAX_TCP_BUFFER:
                break
            try:
                messages = parse_stream(buffer)
            except SipError as exc:
                log.info("sip/tcp: closing a connection after a malformed message (%s)", exc)
                break
            for message in messages:
                if isinstance(message, Request):
                    reply = answer(message)
                    if reply is not None:
                        writer.write(serialise(reply))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class SipListener:
    """Owns the UDP endpoint and TCP server bound to pre-bound sockets."""

    def __init__(self, udp_socket: socket.socket, tcp_socket: socket.socket) -> None:
        self._udp_socket = udp_socket
        self._tcp_socket = tcp_socket
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(SipUdpProtocol, sock=self._udp_socket)
        self._tcp = await asyncio.start_server(_serve_tcp_connection, sock=self._tcp_socket)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
