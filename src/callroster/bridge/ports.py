"""The bridge's seam to the network: what it needs of sockets, as protocols. The service
fills them with ``io/bridge_network.py`` (asyncio sockets); tests fill them with queues in
memory (``tests/support/fake_network.py``), so the bridge's logic runs without a socket."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from callroster.sip.events import Outgoing

Address = tuple[str, int]
# The loop gives a datagram's source as (host, port, ...); RtpSession compares it as is.
Receive = Callable[[bytes, tuple[str | int, ...]], None]
# What a media socket reports on its own, after the fact: an ICMP error for an earlier packet
# (port or host unreachable), or a send the event loop refused and did not raise.
OnError = Callable[[Exception], None]


@dataclass(frozen=True)
class ConnectFailure:
    """Why a TLS connection to a trunk was not made: its ``certificate`` failed
    verification (wrong CA, wrong name, expired), or it could not be reached at all."""

    certificate: bool
    detail: str  # OpenSSL's verification message, or the socket's error


def family_of(host: str) -> str:
    """IP6 for an IPv6 address, IP4 otherwise (as SDP spells them)."""
    return "IP6" if ":" in host else "IP4"


class RtpPort(Protocol):
    """One call's media socket (or a browser's WebRTC connection, made to look like one)."""

    def sendto(self, data: bytes, address: Address, /) -> None: ...

    def close(self) -> None: ...


class Network(Protocol):
    def send_sip(self, datagram: Outgoing) -> None:
        """Send a SIP message over UDP, or over the TCP connection to its destination."""
        ...

    async def open_rtp(
        self, receive: Receive, on_error: OnError, family: str = "IP4"
    ) -> tuple[RtpPort, int]:
        """A new media socket on the bridge's media address of ``family`` (IP4 | IP6);
        returns it and its port. ``receive`` takes each datagram, ``on_error`` each error
        the socket reports."""
        ...

    async def connect_sip(self, address: Address) -> bool:
        """Make sure there is a TCP connection to ``address`` (a trunk), reading what comes
        back on it; False if it cannot be reached."""
        ...

    async def connect_sip_tls(self, address: Address, server_name: str) -> ConnectFailure | None:
        """Make sure there is a TLS connection to ``address`` (a trunk) whose certificate is
        valid for ``server_name``; None once there is, else why not (nothing was sent)."""
        ...

    def peer_certified(self, address: Address) -> bool | None:
        """Whether the TLS peer at ``address`` presented a client certificate our client CA
        verified; None when no client certificates are asked for."""
        ...
