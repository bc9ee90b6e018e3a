"""The bridge's network in memory (``bridge/ports.py``): SIP it sends is kept in a list,
each media port is a queue a test reads and writes. With :class:`FakeClock` this runs the
whole bridge without a socket or a real clock (tests/bridge/test_service.py). Also a phone
that speaks to it (SIP messages in the shape sipp sends, RTP packets), and a directory that
is a table."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tests.sip.peers import SippUac

from callroster.bridge.directory import CallAttempt, LegRecord
from callroster.bridge.pin_guard import GuardEvent
from callroster.bridge.ports import Address, ConnectFailure, OnError, Receive
from callroster.bridge.service import BridgeService
from callroster.rtp import g711
from callroster.rtp.packet import RtpPacket, RtpSender, parse_rtp
from callroster.rtp.telephone_event import encode_events
from callroster.sip.events import Outgoing
from callroster.sip.message import Request, Response, parse_message, serialise
from callroster.store.conferences import PinMatch

BRIDGE_HOST = "127.0.0.1"


@dataclass
class FakePort:
    number: int
    receive: Receive
    on_error: OnError
    family: str = "IP4"
    sent: list[tuple[bytes, Address]] = field(default_factory=list)
    closed: bool = False

    def sendto(self, data: bytes, address: Address, /) -> None:
        assert not self.closed, "sent on a closed media port"
        self.sent.append((data, address))

    def close(self) -> None:
        self.closed = True

    def report(self, exc: Exception) -> None:
        """The socket reports an error (an ICMP unreachable for an earlier packet)."""
        self.on_error(exc)

    def deliver(self, data: bytes, source: Address) -> None:
        """A datagram arrives at this port from ``source``."""
        self.receive(data, source)

    def packets(self) -> list[RtpPacket]:
        """What the bridge sent here, parsed, and forget it."""
        sent, self.sent = self.sent, []
        return [parse_rtp(data) for data, _ in sent]


class FakeNetwork:
    def __init__(self) -> None:
        self.sip: list[Outgoing] = []
        self.ports: dict[int, FakePort] = {}
        self.unreachable: set[Address] = set()
        self.rtp_gate: asyncio.Event | None = None  # set: opening a media socket waits on it
        self.bad_certificates: set[Address] = set()  # TLS trunks whose certificate fails
        self.certified: dict[Address, bool] = {}  # TLS peers' client certificates, if asked
        self._numbers = itertools.count(40000, 2)

    def send_sip(self, datagram: Outgoing) -> None:
        self.sip.append(datagram)

    async def open_rtp(
        self, receive: Receive, on_error: OnError, family: str = "IP4"
    ) -> tuple[FakePort, int]:
        if self.rtp_gate is not None:  # a loaded machine: sockets open when the test says
            await self.rtp_gate.wait()
        port = FakePort(next(self._numbers), receive, on_error, family=family)
        self.ports[port.number] = port
        return port, port.number

    async def connect_sip(self, address: Address) -> bool:
        return address not in self.unreachable

    async def connect_sip_tls(self, address: Address, server_name: str) -> ConnectFailure | None:
        if address in self.unreachable:
            return ConnectFailure(False, "unreachable over TLS: connection refused")
        if address in self.bad_certificates:
            return ConnectFailure(True, "unable to get local issuer certificate")
        return None

    def peer_certified(self, address: Address) -> bool | None:
        return self.certified.get(address)

    def take_sip(self) -> list[Request | Response]:
        """What the bridge sent over SIP since last asked, parsed."""
        sent, self.sip = self.sip, []
        return [parse_message(out.data) for out in sent]


class TableDirectory:
    """:class:`callroster.bridge.directory.ConferenceDirectory` as a table; every write is
    kept in ``writes`` as (method, arguments)."""

    def __init__(
        self,
        pins: dict[str, PinMatch],
        dial_in_numbers: Iterable[str] = (),
        names: dict[str, tuple[str, str]] | None = None,
        names_by_account: dict[str, dict[str, tuple[str, str]]] | None = None,
        srtp_required: Iterable[str] = (),
    ) -> None:
        """``names``: found whichever account asks; ``names_by_account``: found only when
        that account asks (as the store's look-up does)."""
        self.pins = pins
        self.dial_in_numbers = set(dial_in_numbers)
        # Accounts whose SRTP policy is "required"; numbers only such accounts answer on.
        self.srtp_required_accounts = set(srtp_required)
        self.srtp_required_numbers: set[str] = set()
        self.names = names or {}
        self.names_by_account = names_by_account or {}
        self.name_lookups: list[tuple[str, str]] = []  # (account id, number), as asked
        self.writes: list[tuple[str, tuple[Any, ...]]] = []

    def is_dial_in_number(self, user: str) -> bool:
        return user in self.dial_in_numbers

    def open_with_pin(self, pin: str, through: str | None = None) -> PinMatch | None:
        return self.pins.get(pin)  # (every account answers on every number here)

    def pin_lengths(self) -> frozenset[int]:
        return frozenset(len(pin) for pin in self.pins) or frozenset({8})

    def srtp_required(self, account_id: str) -> bool:
        return account_id in self.srtp_required_accounts

    def srtp_required_on(self, access_number: str) -> bool:
        return access_number in self.srtp_required_numbers

    def resolve_name(self, account_id: str, number: str) -> tuple[str, str] | None:
        self.name_lookups.append((account_id, number))
        return self.names_by_account.get(account_id, {}).get(number) or self.names.get(number)

    def leg_joined(self, record: LegRecord) -> None:
        self.writes.append(("leg_joined", (record,)))

    def leg_status(self, leg_id: str, status: str, left: bool) -> None:
        self.writes.append(("leg_status", (leg_id, status, left)))

    def leg_renamed(self, leg_id: str, name: str | None, source: str | None) -> None:
        self.writes.append(("leg_renamed", (leg_id, name, source)))

    def call_started(self, attempt: CallAttempt) -> None:
        self.writes.append(("call_started", (attempt,)))

    def call_answered(self, leg_id: str, at: dt.datetime) -> None:
        self.writes.append(("call_answered", (leg_id, at)))

    def call_finished(
        self, leg_id: str, outcome: str, sip_status: int | None, at: dt.datetime
    ) -> None:
        self.writes.append(("call_finished", (leg_id, outcome, sip_status, at)))

    def security_event(self, event: GuardEvent) -> None:
        self.writes.append(("security_event", (event,)))

    def written(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.writes if name == method]


def phone_sdp(host: str, port: int, *, extra: str = "") -> bytes:
    family = "IP6" if ":" in host else "IP4"
    return (
        "v=0\r\n"
        f"o=phone 1 1 IN {family} {host}\r\n"
        "s=-\r\n"
        f"c=IN {family} {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        f"{extra}"
    ).encode()


class Phone(SippUac):
    """A phone calling the bridge (sipp's message shapes), with its own RTP stream."""

    def __init__(
        self,
        number: int,
        dialled: str,
        *,
        caller: str = "+447700900123",
        host: str | None = None,
        asserted: str | None = None,
    ) -> None:
        """``asserted``: a number to send in P-Asserted-Identity on the INVITE."""
        host = host or f"127.0.1.{number}"
        super().__init__(number, host=host, port=5070)
        self.uri = f"sip:{dialled}@{BRIDGE_HOST}:5060"
        self.caller = caller
        self.asserted = asserted
        self.media: Address = (host, 7000 + 2 * number)
        self.sender = RtpSender(ssrc=1000 + number, initial_sequence=1, initial_timestamp=0)
        self.arrives_over = "udp"  # the transport the bridge is told its SIP came over

    def request(self, method: str, **kwargs: Any) -> Request:
        message = super().request(method, **kwargs)
        headers = [
            (name, value.replace("sipp@", f"{self.caller}@") if name == "From" else value)
            for name, value in message.headers
        ]
        if self.asserted and method == "INVITE":
            headers.append(("P-Asserted-Identity", f"<sip:{self.asserted}@carrier.example>"))
        return Request(message.method, self.uri, headers, message.body)

    def dial(self, bridge: BridgeService) -> None:
        self.send(bridge, self.invite(body=phone_sdp(*self.media)))

    def send(self, bridge: BridgeService, message: Request) -> None:
        bridge.on_sip(serialise(message), self.source, self.arrives_over)

    def audio(self, pcm: NDArray[np.int16]) -> bytes:
        return self.sender.next_packet(g711.encode("PCMU", pcm), g711.FRAME_SAMPLES)

    def key(self, digit: str) -> list[bytes]:
        """The RFC 4733 packets of one key press (payload type 101)."""
        payloads = encode_events(digit)
        return [
            self.sender.next_packet(
                payload,
                0 if i < len(payloads) - 1 else 800,
                marker=i == 0,
                payload_type=101,
            )
            for i, payload in enumerate(payloads)
        ]


def tone(frequency: float = 1000.0, level: float = 8000.0) -> Callable[[int], NDArray[np.int16]]:
    """Frame ``n`` of a steady tone, for a phone to send."""

    def frame(n: int) -> NDArray[np.int16]:
        t = (np.arange(g711.FRAME_SAMPLES) + n * g711.FRAME_SAMPLES) / 8000.0
        return (level * np.sin(2 * np.pi * frequency * t)).astype(np.int16)

    return frame
