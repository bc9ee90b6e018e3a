"""What :class:`~callroster.sip.endpoint.SipEndpoint` hands out: datagrams and events.

Events are frozen, past-tense dataclasses keyed by ``call_id`` (the SIP Call-ID). The
application answers them with the endpoint's commands (``answer``, ``hangup``, ``dial``).
"""

from __future__ import annotations

from dataclasses import dataclass

from callroster.sip.message import Request, Response
from callroster.sip.transaction import Address, Transport


@dataclass(frozen=True)
class Outgoing:
    """Bytes to send.

    Attributes:
        data: One whole SIP message.
        destination: ``(host, port)``; host may be a name for the adapter to resolve.
        transport: ``"udp"``, or ``"tcp"``/``"tls"`` (the connection to that address: the
            one a request came on, or the one the adapter opened to a trunk).
    """

    data: bytes
    destination: Address
    transport: Transport


@dataclass(frozen=True)
class IncomingCall:
    """A new INVITE arrived; the endpoint has sent 100 Trying. Answer with ``answer``."""

    call_id: str
    request: Request
    source: Address
    transport: Transport


@dataclass(frozen=True)
class CallAcknowledged:
    """The ACK for our 2xx to the initial INVITE arrived: media can flow both ways.

    ``body`` is the ACK's body: the SDP answer when the INVITE had no offer.
    """

    call_id: str
    body: bytes = b""


@dataclass(frozen=True)
class CallCancelled:
    """The caller cancelled before the answer; the endpoint sent 200 (CANCEL) and 487."""

    call_id: str


@dataclass(frozen=True)
class CallEnded:
    """The call is over and forgotten.

    ``reason`` is ``"bye"`` (the peer hung up; we answered 200), ``"ack-timeout"`` (our 2xx
    was never acknowledged; we sent BYE), ``"session-expired"`` (no session refresh; we sent
    BYE), ``"refresh-failed"`` (our refresh got 481 or timed out), or ``"unanswered"`` (the
    application did not answer in time; we sent 480).
    """

    call_id: str
    reason: str


@dataclass(frozen=True)
class ReInvite:
    """An in-dialog INVITE (new SDP, hold, ...); the endpoint sent 100. Answer with ``answer``."""

    call_id: str
    request: Request


@dataclass(frozen=True)
class InfoReceived:
    """An in-dialog INFO (e.g. ``application/dtmf-relay``); the endpoint answered 200."""

    call_id: str
    request: Request


@dataclass(frozen=True)
class CallProgressed:
    """A provisional response (180, 183) to our INVITE."""

    call_id: str
    response: Response


@dataclass(frozen=True)
class CallAnswered:
    """A 2xx to our INVITE; the endpoint has sent the ACK."""

    call_id: str
    response: Response


@dataclass(frozen=True)
class CallFailed:
    """Our INVITE got a non-2xx final response, or none (408)."""

    call_id: str
    status: int
    reason: str


Event = (
    IncomingCall
    | CallAcknowledged
    | CallCancelled
    | CallEnded
    | ReInvite
    | InfoReceived
    | CallProgressed
    | CallAnswered
    | CallFailed
)
