"""Fake peers for the endpoint tests: the messages sipp's built-in ``uac`` scenario sends
(``sipp -sn uac``), with the extra requests (re-INVITE, INFO, UPDATE, CANCEL) in the same
shape; helpers to run an endpoint's timers on a fake clock; and ``transfer(a, b)`` wiring
between two endpoints with an optional loss pattern."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from callroster.sip.endpoint import Outgoing, SipEndpoint
from callroster.sip.message import Request, Response, parse_message, response_to, serialise
from callroster.sip.transaction import Transport

BRIDGE = ("127.0.0.1", 5060)

SDP = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.1.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)
SENDONLY_SDP = SDP.replace(b"2353687637", b"2353687638") + b"a=sendonly\r\n"
ANSWER_SDP = (
    b"v=0\r\n"
    b"o=callroster 1 1 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)


def counter_ids(prefix: str = "id") -> Callable[[], str]:
    """Deterministic ``ids`` for an endpoint: ``id0``, ``id1``, ..."""
    numbers = itertools.count()
    return lambda: f"{prefix}{next(numbers)}"


def bridge(**options: Any) -> SipEndpoint:
    """The endpoint under test, at 127.0.0.1:5060, with deterministic ids."""
    return SipEndpoint("127.0.0.1", 5060, counter_ids(), **options)


class SippUac:
    """One call of sipp's uac scenario, from ``host:port``.

    Tracks the To tag the bridge chose (:meth:`learn`) and the CSeq, so later requests are
    in-dialog. ``extra`` headers go into the INVITE (Session-Expires, Record-Route, ...).
    """

    def __init__(
        self,
        number: int = 1,
        *,
        host: str = "127.0.1.1",
        port: int = 5061,
        transport: str = "UDP",
        pid: int = 3862,
    ) -> None:
        self.number = number
        self.host, self.port, self.transport = host, port, transport
        self.source = (host, port)
        self.call_id = f"{number}-{pid}@{host}"
        self.from_tag = f"{pid}SIPpTag00{number}"
        self.pid = pid
        self.to_tag: str | None = None
        self.cseq = 1
        self._branches = itertools.count()

    @property
    def hostport(self) -> str:
        """Host and port as a URI or Via names them (an IPv6 address bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def _branch(self) -> str:
        return f"z9hG4bK-{self.pid}-{self.number}-{next(self._branches)}"

    def _to(self) -> str:
        to = "service <sip:service@127.0.0.1:5060>"
        return to if self.to_tag is None else f"{to};tag={self.to_tag}"

    def request(
        self,
        method: str,
        *,
        cseq: int | None = None,
        branch: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
        to_tag: bool = True,
    ) -> Request:
        branch = branch or self._branch()
        headers = [
            ("Via", f"SIP/2.0/{self.transport} {self.hostport};branch={branch}"),
            ("From", f"sipp <sip:sipp@{self.hostport}>;tag={self.from_tag}"),
            ("To", self._to() if to_tag else "service <sip:service@127.0.0.1:5060>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq if cseq is None else cseq} {method}"),
            ("Contact", f"sip:sipp@{self.hostport}"),
            ("Max-Forwards", "70"),
            ("Subject", "Performance Test"),
            *extra,
        ]
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        return Request(method, "sip:service@127.0.0.1:5060", headers, body)

    def invite(self, *, extra: Iterable[tuple[str, str]] = (), body: bytes = SDP) -> Request:
        self.invite_request = self.request(
            "INVITE", body=body, content_type="application/sdp", extra=extra
        )
        return self.invite_request

    def ack(self, cseq: int = 1) -> Request:
        return self.request("ACK", cseq=cseq)

    def _invite_branch(self) -> str:
        return (self.invite_request.get("Via") or "").split("branch=")[1]

    def ack_for_failure(self) -> Request:
        """The ACK for a non-2xx final: same branch as the INVITE (RFC 3261 17.1.1.3)."""
        return self.request("ACK", branch=self._invite_branch())

    def cancel(self) -> Request:
        return self.request("CANCEL", cseq=1, branch=self._invite_branch(), to_tag=False)

    def in_dialog(self, method: str, **kwargs: Any) -> Request:
        """The next request in the dialog (CSeq + 1)."""
        self.cseq += 1
        return self.request(method, **kwargs)

    def learn(self, data: bytes) -> Response:
        """Parses a response from the bridge and remembers its To tag."""
        response = parse_message(data)
        assert isinstance(response, Response)
        to = response.get("To") or ""
        if ";tag=" in to:
            self.to_tag = to.split(";tag=")[1]
        return response


def send(endpoint: SipEndpoint, peer: SippUac, message: Request, now: float) -> list[Outgoing]:
    """Delivers ``message`` from ``peer`` and returns what the endpoint sends."""
    transports: dict[str, Transport] = {"TCP": "tcp", "TLS": "tls"}
    transport = transports.get(peer.transport, "udp")
    endpoint.receive(serialise(message), peer.source, transport, now)
    return endpoint.datagrams()


def parse_all(outgoing: Iterable[Outgoing]) -> list[Request | Response]:
    return [parse_message(o.data) for o in outgoing]


def statuses(outgoing: Iterable[Outgoing]) -> list[int]:
    return [m.status for m in parse_all(outgoing) if isinstance(m, Response)]


def methods(outgoing: Iterable[Outgoing]) -> list[str]:
    return [m.method for m in parse_all(outgoing) if isinstance(m, Request)]


def run_timers(endpoint: SipEndpoint, until: float) -> list[tuple[float, Outgoing]]:
    """Fires the endpoint's timers in order up to ``until``; what was sent, and when."""
    sent: list[tuple[float, Outgoing]] = []
    while (deadline := endpoint.next_timer()) is not None and deadline <= until:
        endpoint.handle_timer(deadline)
        sent += [(deadline, o) for o in endpoint.datagrams()]
    return sent


def reply(request_data: bytes, status: int, reason: str, **kwargs: Any) -> bytes:
    """A peer's response to one of our requests (To tag ``peer1`` unless given)."""
    request = parse_message(request_data)
    assert isinstance(request, Request)
    kwargs.setdefault("to_tag", "peer1")
    return serialise(response_to(request, status, reason, **kwargs))


# -- two endpoints wired together ------------------------------------------------------

Drop = Callable[[Outgoing], bool]
TARGET = "sip:bob@127.0.0.2:5070"


def pair(session_expires: int | None = 1800) -> tuple[SipEndpoint, SipEndpoint]:
    a = SipEndpoint("127.0.0.1", 5060, counter_ids("a"), session_expires=session_expires)
    b = SipEndpoint("127.0.0.2", 5070, counter_ids("b"), session_expires=session_expires)
    return a, b


def transfer(
    a: SipEndpoint, b: SipEndpoint, now: float, drop: Drop | None = None
) -> list[Outgoing]:
    """Delivers what ``a`` sent to ``b``, except what ``drop`` loses; returns what was sent."""
    sent = a.datagrams()
    for out in sent:
        if drop is None or not drop(out):
            b.receive(out.data, (a.local_host, a.local_port), out.transport, now)
    return sent


def pump(a: SipEndpoint, b: SipEndpoint, now: float, drop: Drop | None = None) -> list[Outgoing]:
    """Transfers both ways until both are quiet."""
    log: list[Outgoing] = []
    while moved := transfer(a, b, now, drop) + transfer(b, a, now, drop):
        log += moved
    return log


def advance(
    a: SipEndpoint, b: SipEndpoint, until: float, drop: Drop | None = None
) -> list[Outgoing]:
    """Runs both endpoints' timers in time order up to ``until``, delivering as it goes."""
    log: list[Outgoing] = []
    while True:
        due = [t for t in (a.next_timer(), b.next_timer()) if t is not None and t <= until]
        if not due:
            return log
        now = min(due)
        for ep in (a, b):
            deadline = ep.next_timer()
            if deadline is not None and deadline <= now:
                ep.handle_timer(now)
        log += pump(a, b, now, drop)
