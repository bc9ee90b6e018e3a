"""SIP dialogs (RFC 3261 sections 12, 13.3.1.4, 14 and 15).

A :class:`Dialog` holds what RFC 3261 12 says a dialog is (Call-ID, tags, CSeqs, remote
target, route set), builds in-dialog requests and the ACK for a 2xx, checks the order of the
peer's CSeq, and owns the two jobs of the UAS core that outlive a transaction: re-sending a
2xx until its ACK arrives (T1 doubling up to T2, given up after 64*T1) and the session timer
(:mod:`callroster.sip.session_timer`).

States, in :data:`TRANSITIONS`: a UAS dialog is Early from the INVITE (its To tag is chosen
then), Answered once the 2xx is sent, Confirmed by the ACK; a UAC dialog starts Confirmed from
the 2xx. Any of them ends Terminated.

Exceptions:
    DialogError: a move the table does not allow (a bug in the caller).
    CSeqOutOfOrder: a ``SipError`` answered 500 (RFC 3261 12.2.2).
"""

from __future__ import annotations

import enum
import ipaddress
import logging
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from callroster.sip.message import (
    BadRequest,
    Request,
    Response,
    SipError,
    parse_cseq,
    serialise,
)
from callroster.sip.session_timer import SessionTimer
from callroster.sip.transaction import T1, T2, TIMEOUT, Address, Transport, sender_behind_nat
from callroster.sip.uri import NameAddr, parse_name_addr, parse_uri

log = logging.getLogger(__name__)

Role = Literal["uac", "uas"]


class DialogError(Exception):
    """A move the dialog's state table does not allow."""


class CSeqOutOfOrder(SipError):
    """An in-dialog request whose CSeq is below the last one seen (RFC 3261 12.2.2)."""

    code = 500
    reason = "Server Internal Error"


class DialogState(enum.Enum):
    """Dialog states."""

    EARLY = "early"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogEvent(enum.Enum):
    """What moves a dialog."""

    ANSWER = "2xx sent"
    REJECT = "non-2xx sent"
    ACK = "ACK received"
    END = "ended"


TRANSITIONS: Mapping[DialogState, Mapping[DialogEvent, DialogState]] = {
    DialogState.EARLY: {
        DialogEvent.ANSWER: DialogState.ANSWERED,
        DialogEvent.REJECT: DialogState.TERMINATED,
        DialogEvent.ACK: DialogState.EARLY,  # stray ACK; absorbed
        DialogEvent.END: DialogState.TERMINATED,
    },
    DialogState.ANSWERED: {
        DialogEvent.ANSWER: DialogState.ANSWERED,  # a re-INVITE answered before the ACK
        DialogEvent.ACK: DialogState.CONFIRMED,
        DialogEvent.END: DialogState.TERMINATED,
    },
    DialogState.CONFIRMED: {
        DialogEvent.ANSWER: DialogState.CONFIRMED,  # 2xx to a re-INVITE
        DialogEvent.ACK: DialogState.CONFIRMED,
        DialogEvent.END: DialogState.TERMINATED,
    },
}


class _CallLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with the Call-ID."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"[{(self.extra or {}).get('call_id')}] {msg}", kwargs


@dataclass
class _PendingAnswer:
    """A 2xx waiting for its ACK (RFC 3261 13.3.1.4)."""

    cseq: int
    data: bytes
    resend_at: float | None  # None on TCP: nothing is re-sent
    interval: float
    give_up_at: float


#: Seconds between keep-alives to a peer behind a NAT: below the 30 s that the shortest-lived
#: UDP mappings of home routers last (RFC 5626 4.4.1 suggests 95-120 s for flows it knows to
#: be stable; we do not know the NAT), as Kamailio's nathelper and Asterisk's qualify do.
NAT_KEEPALIVE = 20.0
#: What a keep-alive is: a double CRLF (RFC 5626 3.5.1), which any SIP stack ignores.
KEEPALIVE_DATA = b"\r\n\r\n"


@dataclass(frozen=True)
class DialogAlarms:
    """What a dialog's timers ask of its owner.

    Attributes:
        resend: A 2xx to re-send.
        ack_timed_out: No ACK within 64*T1: end the call with BYE.
        refresh_due: We are the refresher and half the session interval has passed.
        session_expired: The session timer ran out: end the call with BYE.
        keepalive: A peer behind a NAT: send it a keep-alive now (see
            :data:`NAT_KEEPALIVE`) so that the NAT's mapping, which our BYE needs, lives.
    """

    resend: bytes | None = None
    ack_timed_out: bool = False
    refresh_due: bool = False
    session_expired: bool = False
    keepalive: tuple[str, int, Transport] | None = None


def _party(value: str) -> NameAddr:
    """A From/To value without its tag (the tag is stored apart)."""
    parsed = parse_name_addr(value)
    params = {k: v for k, v in parsed.params.items() if k != "tag"}
    return NameAddr(parsed.display_name, parsed.uri, params)


def _tagged(party: NameAddr, tag: str | None) -> str:
    if tag is None:
        return str(party)
    return str(NameAddr(party.display_name, party.uri, {**party.params, "tag": tag}))


def _contact_uri(message: Request | Response) -> str:
    contact = message.get("Contact")
    if contact is None:
        raise BadRequest("no Contact")
    uri = parse_name_addr(contact).uri
    parsed = parse_uri(uri)
    if parsed.scheme == "tel" or not parsed.host:
        raise BadRequest(f"Contact {uri!r} is not a SIP URI")
    return uri


def peer_host(host: str) -> str:
    """A host as peers are compared: an IP address in its one canonical form (an IPv4
    address mapped into IPv6 as plain IPv4), a name in lower case."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _routes(values: Iterable[str]) -> tuple[str, ...]:
    routes = []
    for value in values:
        parsed = parse_name_addr(value)
        parse_uri(parsed.uri)  # a route we could not follow is rejected up front
        routes.append(str(parsed))
    return tuple(routes)


def next_hop(uri: str, default: Transport) -> tuple[str, int, Transport]:
    """Host, port and transport a request for ``uri`` goes to (RFC 3263 without DNS).

    Args:
        uri: A sip: or sips: URI (a Route or the remote target).
        default: Transport when the URI has no ``transport`` parameter.

    Returns:
        ``(host, port, transport)``; port 5060 (5061 for sips) by default; a sips: URI
        without a ``transport`` parameter means TLS.

    Raises:
        BadRequest: Not a SIP URI.
    """
    parsed = parse_uri(uri)
    if parsed.scheme == "tel" or not parsed.host:
        raise BadRequest(f"cannot route to {uri!r}")
    transport = (parsed.params.get("transport") or "").lower()
    chosen: Transport = default
    if transport in ("udp", "tcp", "tls"):
        chosen = transport  # type: ignore[assignment]
    elif parsed.scheme == "sips":
        chosen = "tls"  # a sips: URI is reached over TLS only (RFC 3261 26.2.2)
    port = parsed.port or (5061 if parsed.scheme == "sips" else 5060)
    return parsed.host, port, chosen


class Dialog:
    """One dialog, from either side.

    Build one with :meth:`for_uas` (from a received INVITE) or :meth:`for_uac` (from a 2xx
    to our INVITE) rather than directly.
    """

    def __init__(
        self,
        *,
        role: Role,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_party: NameAddr,
        remote_party: NameAddr,
        remote_target: str,
        route_set: tuple[str, ...],
        local_cseq: int,
        remote_cseq: int | None,
        state: DialogState,
    ) -> None:
        self.role: Role = role
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_party = local_party
        self.remote_party = remote_party
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        self.session: SessionTimer | None = None
        self.last_ack: tuple[int, bytes] | None = None  # (INVITE CSeq, ACK sent for its 2xx)
        self._state = state
        self.history: list[DialogState] = [state]
        self._pending: _PendingAnswer | None = None
        # Where the peer's requests come from, while it is behind a NAT (see heard_from).
        self._flow: tuple[str, int, Transport] | None = None
        self._behind_nat = False  # (then keep-alives keep its mapping open)
        self._keepalive_at: float | None = None  # for a peer behind a NAT, once answered
        # Where the peer's in-dialog requests may come from (see from_peer).
        self._peer_hosts = {peer_host(parse_uri(remote_target).host)}
        for route in route_set:
            self._peer_hosts.add(peer_host(parse_uri(parse_name_addr(route).uri).host))
        self._log = _CallLog(log, {"call_id": call_id})

    @classmethod
    def for_uas(cls, invite: Request, local_tag: str) -> Dialog:
        """The dialog an INVITE creates at the UAS (RFC 3261 12.1.1), in state Early.

        Args:
            invite: The received INVITE.
            local_tag: Our To tag, for every response but 100.

        Returns:
            The dialog: route set = Record-Route in order, remote target = Contact.

        Raises:
            BadRequest: No From tag, or no usable Contact or Record-Route.
        """
        remote = parse_name_addr(invite.get("From") or "")
        if remote.tag is None:
            raise BadRequest("From has no tag")
        number, _ = parse_cseq(invite.get("CSeq") or "")
        return cls(
            role="uas",
            call_id=invite.get("Call-ID") or "",
            local_tag=local_tag,
            remote_tag=remote.tag,
            local_party=_party(invite.get("To") or ""),
            remote_party=_party(invite.get("From") or ""),
            remote_target=_contact_uri(invite),
            route_set=_routes(invite.get_all("Record-Route")),
            local_cseq=0,
            remote_cseq=number,
            state=DialogState.EARLY,
        )

    @classmethod
    def for_uac(cls, invite: Request, response: Response) -> Dialog:
        """The dialog a 2xx to our INVITE creates (RFC 3261 12.1.2), in state Confirmed.

        Args:
            invite: The INVITE we sent.
            response: The 2xx received.

        Returns:
            The dialog: route set = Record-Route reversed, remote target = Contact.

        Raises:
            BadRequest: No To tag, or no usable Contact or Record-Route.
        """
        remote = parse_name_addr(response.get("To") or "")
        local = parse_name_addr(invite.get("From") or "")
        if remote.tag is None or local.tag is None:
            raise BadRequest("2xx without a To tag")
        number, _ = parse_cseq(invite.get("CSeq") or "")
        return cls(
            role="uac",
            call_id=invite.get("Call-ID") or "",
            local_tag=local.tag,
            remote_tag=remote.tag,
            local_party=_party(invite.get("From") or ""),
            remote_party=_party(response.get("To") or ""),
            remote_target=_contact_uri(response),
            route_set=tuple(reversed(_routes(response.get_all("Record-Route")))),
            local_cseq=number,
            remote_cseq=None,
            state=DialogState.CONFIRMED,
        )

    @property
    def state(self) -> DialogState:
        """Current state."""
        return self._state

    def matches(self, request: Request) -> bool:
        """Whether an in-dialog request belongs here: Call-ID, To tag = ours, From tag = theirs.

        Raises:
            BadRequest: From or To does not parse.
        """
        return (
            request.get("Call-ID") == self.call_id
            and parse_name_addr(request.get("To") or "").tag == self.local_tag
            and parse_name_addr(request.get("From") or "").tag == self.remote_tag
        )

    def check_remote_cseq(self, request: Request) -> None:
        """Accepts an in-dialog request's CSeq, or rejects it as out of order.

        ACK and CANCEL reuse their INVITE's number and are not checked.

        Raises:
            CSeqOutOfOrder: Lower than the last number seen (answer 500).
        """
        if request.method in ("ACK", "CANCEL"):
            return
        number, _ = parse_cseq(request.get("CSeq") or "")
        if self.remote_cseq is not None and number < self.remote_cseq:
            raise CSeqOutOfOrder(f"CSeq {number} below {self.remote_cseq}", request=request)
        self.remote_cseq = number

    def refresh_target(self, message: Request | Response) -> None:
        """Takes a new remote target from a target refresh's Contact (RFC 3261 12.2)."""
        try:
            self.remote_target = _contact_uri(message)
        except SipError:
            self._log.info("kept the remote target: no usable Contact in the refresh")

    def heard_from(self, request: Request, source: Address, transport: Transport) -> None:
        """Notes where a request of the peer's came from: the INVITE, then each in-dialog
        request (the last one counts).

        From a sender behind a NAT (:func:`~callroster.sip.transaction.sender_behind_nat`),
        our in-dialog requests go back to that source, through the mapping its requests
        opened, rather than to its Contact: that names the phone's private address, which
        nothing outside reaches (as Asterisk's ``force_rport``/``comedia`` and Kamailio's
        ``fix_nated_contact`` do). The Request-URI stays the Contact.

        Args:
            request: The received request.
            source: Address it came from.
            transport: Transport it came on (a TCP source is its connection).
        """
        # Over TLS, always back through the connection the peer opened (RFC 5923's reuse):
        # a phone has no certificate we could check if we opened one to it ourselves.
        behind_nat = sender_behind_nat(request, source)
        flow = (source[0], source[1], transport) if behind_nat or transport == "tls" else None
        if behind_nat != self._behind_nat:
            self._log.debug("peer behind a NAT: %s", behind_nat)
        self._flow, self._behind_nat = flow, behind_nat

    def know_peer(self, host: str) -> None:
        """Adds an address the peer's in-dialog requests may come from: where the INVITE came
        from (UAS), or where we sent ours (UAC)."""
        self._peer_hosts.add(peer_host(host))

    def from_peer(self, host: str) -> bool:
        """Whether a request from ``host`` may be the peer's: from where the dialog began
        (:meth:`know_peer`), its remote target's host or a host of its route set, as the
        dialog began. The right tags alone prove nothing: they travel in clear, and a
        stranger who learnt them could otherwise move the call's media, key its digits or
        hang it up. Names in a Contact or Route are compared as names, never resolved."""
        return peer_host(host) in self._peer_hosts

    def next_hop(self, default: Transport) -> tuple[str, int, Transport]:
        """Where in-dialog requests go: the first Route if any; else, for a peer behind a
        NAT, where its requests come from (:meth:`heard_from`); else the remote target."""
        if self.route_set:
            return next_hop(parse_name_addr(self.route_set[0]).uri, default)
        if self._flow is not None:
            return self._flow
        return next_hop(self.remote_target, default)

    def create_request(
        self,
        method: str,
        via: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        cseq: int | None = None,
    ) -> Request:
        """An in-dialog request (RFC 3261 12.2.1.1), loose or strict routing.

        Args:
            method: e.g. ``"BYE"``, ``"INVITE"``, ``"INFO"``, ``"ACK"``.
            via: Our Via value with a fresh branch.
            body: Message body.
            content_type: Content-Type when there is a body.
            extra_headers: Appended (Contact, Supported, User-Agent, ...).
            cseq: CSeq number to use (the INVITE's for an ACK); by default the next local one.

        Returns:
            The request.
        """
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        uri = self.remote_target
        routes = list(self.route_set)
        if routes:
            first = parse_name_addr(routes[0]).uri
            if "lr" not in parse_uri(first).params:  # strict router (RFC 3261 12.2.1.1)
                uri = first.split("?", 1)[0]  # URI headers are not allowed in a Request-URI
                routes = routes[1:] + [f"<{self.remote_target}>"]
        headers = [("Via", via), ("Max-Forwards", "70")]
        headers.extend(("Route", route) for route in routes)
        headers += [
            ("From", _tagged(self.local_party, self.local_tag)),
            ("To", _tagged(self.remote_party, self.remote_tag)),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        headers.extend(extra_headers)
        if content_type is not None and body:
            headers.append(("Content-Type", content_type))
        return Request(method, uri, headers, body)

    def create_ack(self, cseq: int, via: str) -> Request:
        """The ACK for a 2xx (RFC 3261 13.2.2.4): its own transaction, the INVITE's CSeq.

        Also remembered in :attr:`last_ack`, to answer a retransmitted 2xx with it.

        Args:
            cseq: The INVITE's CSeq number.
            via: Our Via with a fresh branch.

        Returns:
            The ACK.
        """
        ack = self.create_request("ACK", via, cseq=cseq)
        self.last_ack = (cseq, serialise(ack))
        return ack

    # The UAS core's 2xx retransmission (RFC 3261 13.3.1.4).

    def answered(self, cseq: int, data: bytes, now: float, *, reliable: bool) -> None:
        """A 2xx was sent for the INVITE with CSeq ``cseq``: re-send it until the ACK.

        Args:
            cseq: The INVITE's CSeq number (initial or re-INVITE).
            data: The 2xx on the wire.
            now: Current time.
            reliable: TCP: nothing is re-sent, but the ACK is still awaited for 64*T1.
        """
        self._move(DialogEvent.ANSWER)
        if self._behind_nat and self._keepalive_at is None:
            self._keepalive_at = now + NAT_KEEPALIVE
        resend_at = None if reliable else now + T1
        self._pending = _PendingAnswer(cseq, data, resend_at, T1, now + TIMEOUT)

    def rejected(self) -> None:
        """The initial INVITE got a non-2xx final (or was cancelled): the dialog never was."""
        self._move(DialogEvent.REJECT)

    def acknowledged(self, request: Request) -> bool:
        """An ACK for a 2xx arrived.

        Args:
            request: The ACK.

        Returns:
            True for the ACK that confirms the dialog (the first ACK to the initial 2xx).
        """
        number, _ = parse_cseq(request.get("CSeq") or "")
        if self._pending is not None and self._pending.cseq == number:
            self._pending = None
        confirming = self._state is DialogState.ANSWERED and self._pending is None
        if confirming or self._state is not DialogState.ANSWERED:
            self._move(DialogEvent.ACK)
        return confirming

    def end(self) -> None:
        """The dialog is over (BYE sent or received, or given up)."""
        self._pending = None
        if self._state is not DialogState.TERMINATED:
            self._move(DialogEvent.END)

    @property
    def awaiting_ack(self) -> bool:
        """True while a 2xx of ours has not been acknowledged."""
        return self._pending is not None

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        deadlines = []
        if self._pending is not None:
            deadlines.append(self._pending.give_up_at)
            if self._pending.resend_at is not None:
                deadlines.append(self._pending.resend_at)
        if self.session is not None and self._state is not DialogState.EARLY:
            deadlines.append(self.session.next_deadline())
        if self._keepalive_at is not None and self._flow is not None:
            deadlines.append(self._keepalive_at)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> DialogAlarms:
        """Runs the 2xx retransmission and the session timer.

        Args:
            now: Current time.

        Returns:
            What the owner must do; the dialog's state is left for the owner to end.
        """
        resend = None
        ack_timed_out = False
        pending = self._pending
        if pending is not None:
            if now >= pending.give_up_at:
                self._log.info("no ACK for the 2xx to CSeq %s within 64*T1", pending.cseq)
                self._pending = None
                ack_timed_out = True
            elif pending.resend_at is not None and now >= pending.resend_at:
                pending.interval = min(2 * pending.interval, T2)
                pending.resend_at = now + pending.interval
                resend = pending.data
        due = None
        if self.session is not None and self._state is not DialogState.EARLY:
            due = self.session.due(now)
        keepalive = None
        if self._keepalive_at is not None and now >= self._keepalive_at:
            self._keepalive_at = now + NAT_KEEPALIVE
            keepalive = self._flow
        return DialogAlarms(
            resend=resend,
            ack_timed_out=ack_timed_out,
            refresh_due=due == "refresh",
            session_expired=due == "expire",
            keepalive=keepalive,
        )

    def _move(self, event: DialogEvent) -> None:
        try:
            state = TRANSITIONS[self._state][event]
        except KeyError:
            raise DialogError(f"{event.value} in dialog state {self._state.value}") from None
        if state is not self._state:
            self._set_state(state)

    def _set_state(self, state: DialogState) -> None:
        self._log.debug("dialog %s -> %s", self._state.value, state.value)
        self._state = state
        self.history.append(state)
