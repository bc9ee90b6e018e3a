"""SIP transactions (RFC 3261 section 17, with the Accepted state of RFC 6026).

Four state machines, each with its transitions in one table (``TRANSITIONS``):

- :class:`ServerInviteTransaction`: Proceeding, Completed (a non-2xx final, retransmitted on
  UDP by timer G until the ACK or timer H), Confirmed (timer I absorbs ACK retransmissions),
  Accepted (a 2xx; timer L absorbs INVITE retransmissions while the TU retransmits the 2xx),
  Terminated.
- :class:`ServerNonInviteTransaction`: Trying, Proceeding, Completed (timer J), Terminated.
- :class:`ClientInviteTransaction`: Calling (timers A and B), Proceeding, Completed (the ACK for
  a non-2xx is generated here; timer D), Accepted (timer M), Terminated.
- :class:`ClientNonInviteTransaction`: Trying, Proceeding (timers E and F), Completed (timer
  K), Terminated.

Pure: every method takes ``now``; nothing is sent from here. Each method returns an
:class:`Effect` (bytes to send to the transaction's peer, whether the message goes up to the
transaction user, whether a timeout fired) or the wire bytes of what the TU asked to send. On
TCP and TLS nothing is retransmitted and the absorbing timers (D, I, J, K) are zero.

The four machines stay in one module (about 650 lines, longer than our usual few hundred)
because their one table is the point: read whole, it shows every state and timer of RFC 3261
section 17 side by side.

Exceptions:
    TransactionError: the TU asked for a move the table does not allow (a bug, never the
        result of received bytes: every network input is listed for every live state).
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

from callroster.sip.message import (
    Request,
    Response,
    SipError,
    branch_of,
    parse_cseq,
    serialise,
    via_params,
    via_sent_by,
)
from callroster.sip.uri import parse_name_addr

log = logging.getLogger(__name__)

T1 = 0.5  # RTT estimate (RFC 3261 17.1.1.1)
T2 = 4.0  # longest retransmission interval for non-INVITE requests and INVITE responses
T4 = 5.0  # how long a message may linger in the network
TIMEOUT = 64 * T1  # timers B, F, H, J, L and M
MAGIC_COOKIE = "z9hG4bK"

Transport = Literal["udp", "tcp", "tls"]
# The stream transports: a message is framed by Content-Length, nothing is retransmitted, and
# responses go back over the connection the request came on. TLS is TCP as far as SIP is
# concerned (RFC 3261 18); the adapter does the encryption.
STREAMS: frozenset[str] = frozenset({"tcp", "tls"})
Address = tuple[str, int]
TransactionKey = tuple[str, ...]


class TransactionError(Exception):
    """A move the transaction's state table does not allow."""


class TxState(enum.Enum):
    """Transaction states; each machine uses a subset."""

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


class TxEvent(enum.Enum):
    """What can happen to a transaction: messages, TU commands and timers."""

    REQUEST = "request"  # the request that created a server transaction, again
    ACK = "ACK"
    PROVISIONAL = "1xx"
    SUCCESS = "2xx"
    FAILURE = "3xx-6xx"
    ABANDON = "abandon"  # the TU gives up (e.g. no answer to a CANCELled INVITE)
    TIMER_A = "A"
    TIMER_B = "B"
    TIMER_D = "D"
    TIMER_E = "E"
    TIMER_F = "F"
    TIMER_G = "G"
    TIMER_H = "H"
    TIMER_I = "I"
    TIMER_J = "J"
    TIMER_K = "K"
    TIMER_L = "L"
    TIMER_M = "M"


S, E = TxState, TxEvent  # short names keep the tables readable


def _absorb(state: TxState) -> dict[TxEvent, TxState]:
    """Every response absorbed (retransmissions and strays once the TU has its answer)."""
    return dict.fromkeys((E.PROVISIONAL, E.SUCCESS, E.FAILURE), state)


TRANSITIONS: Mapping[str, Mapping[TxState, Mapping[TxEvent, TxState]]] = {
    "server-invite": {
        S.PROCEEDING: {
            E.REQUEST: S.PROCEEDING,
            E.ACK: S.PROCEEDING,  # stray; absorbed
            E.PROVISIONAL: S.PROCEEDING,
            E.SUCCESS: S.ACCEPTED,
            E.FAILURE: S.COMPLETED,
            E.ABANDON: S.TERMINATED,
        },
        S.COMPLETED: {
            E.REQUEST: S.COMPLETED,
            E.ACK: S.CONFIRMED,
            E.TIMER_G: S.COMPLETED,
            E.TIMER_H: S.TERMINATED,
        },
        S.CONFIRMED: {E.REQUEST: S.CONFIRMED, E.ACK: S.CONFIRMED, E.TIMER_I: S.TERMINATED},
        S.ACCEPTED: {
            E.REQUEST: S.ACCEPTED,
            E.ACK: S.ACCEPTED,
            E.SUCCESS: S.ACCEPTED,
            E.TIMER_L: S.TERMINATED,
        },
    },
    "server-non-invite": {
        S.TRYING: {
            E.REQUEST: S.TRYING,
            E.PROVISIONAL: S.PROCEEDING,
            E.SUCCESS: S.COMPLETED,
            E.FAILURE: S.COMPLETED,
            E.ABANDON: S.TERMINATED,
        },
        S.PROCEEDING: {
            E.REQUEST: S.PROCEEDING,
            E.PROVISIONAL: S.PROCEEDING,
            E.SUCCESS: S.COMPLETED,
            E.FAILURE: S.COMPLETED,
            E.ABANDON: S.TERMINATED,
        },
        S.COMPLETED: {E.REQUEST: S.COMPLETED, E.TIMER_J: S.TERMINATED},
    },
    "client-invite": {
        S.CALLING: {
            E.PROVISIONAL: S.PROCEEDING,
            E.SUCCESS: S.ACCEPTED,
            E.FAILURE: S.COMPLETED,
            E.TIMER_A: S.CALLING,
            E.TIMER_B: S.TERMINATED,
            E.ABANDON: S.TERMINATED,
        },
        S.PROCEEDING: {
            E.PROVISIONAL: S.PROCEEDING,
            E.SUCCESS: S.ACCEPTED,
            E.FAILURE: S.COMPLETED,
            E.ABANDON: S.TERMINATED,
        },
        S.COMPLETED: {**_absorb(S.COMPLETED), E.TIMER_D: S.TERMINATED},
        S.ACCEPTED: {**_absorb(S.ACCEPTED), E.TIMER_M: S.TERMINATED},
    },
    "client-non-invite": {
        S.TRYING: {
            E.PROVISIONAL: S.PROCEEDING,
            E.SUCCESS: S.COMPLETED,
            E.FAILURE: S.COMPLETED,
            E.TIMER_E: S.TRYING,
            E.TIMER_F: S.TERMINATED,
            E.ABANDON: S.TERMINATED,
        },
        S.PROCEEDING: {
            E.PROVISIONAL: S.PROCEEDING,
            E.SUCCESS: S.COMPLETED,
            E.FAILURE: S.COMPLETED,
            E.TIMER_E: S.PROCEEDING,
            E.TIMER_F: S.TERMINATED,
            E.ABANDON: S.TERMINATED,
        },
        S.COMPLETED: {**_absorb(S.COMPLETED), E.TIMER_K: S.TERMINATED},
    },
}


@dataclass(frozen=True)
class Effect:
    """What the transaction user must do after a transaction handled an input.

    Attributes:
        send: Bytes to send to the transaction's destination (a retransmission or an ACK).
        deliver: Pass the message just handled up to the TU (a client transaction's
            response, or an ACK that matched an INVITE server transaction in Accepted).
        timed_out: Timer B, F or H fired: for the TU this is a 408 (or a lost ACK).
    """

    send: bytes | None = None
    deliver: bool = False
    timed_out: bool = False


NOTHING = Effect()


def _response_event(status: int) -> TxEvent:
    if status < 200:
        return TxEvent.PROVISIONAL
    return TxEvent.SUCCESS if status < 300 else TxEvent.FAILURE


def server_key(request: Request, *, method: str | None = None) -> TransactionKey:
    """The key that matches a request to its server transaction (RFC 3261 17.2.3).

    Args:
        request: A received request.
        method: Match as this method instead: ``"INVITE"`` finds the transaction a CANCEL
            cancels (RFC 3261 9.2). An ACK always matches its INVITE.

    Returns:
        A hashable key: branch, sent-by and method for RFC 3261 branches (magic cookie
        ``z9hG4bK``); for RFC 2543 peers Request-URI, From tag, Call-ID, CSeq number and the
        whole top Via (the To tag is left out, since the ACK for a non-2xx adds one).

    Raises:
        BadRequest: The top Via or From does not parse.
    """
    via = request.get("Via") or ""
    wanted = method or ("INVITE" if request.method == "ACK" else request.method)
    branch = branch_of(via) or ""
    if branch.startswith(MAGIC_COOKIE):
        _, host, port = via_sent_by(via)
        return ("3261", branch, host.lower(), str(port or ""), wanted)
    number, _ = parse_cseq(request.get("CSeq") or "")
    from_tag = parse_name_addr(request.get("From") or "").tag or ""
    uri = request.uri
    return ("2543", uri, from_tag, request.get("Call-ID") or "", str(number), _as_sent(via), wanted)


_ADDED_BY_US = re.compile(r";[ \t]*received[ \t]*=[^;,]*|(?<=;rport)[ \t]*=[ \t]*[0-9]+", re.I)


def _as_sent(via: str) -> str:
    """The top Via as its sender wrote it, without the ``received`` and ``rport`` values a
    server adds (RFC 3261 18.2.1, RFC 3581): an RFC 2543 peer's ACK and CANCEL carry the
    Via as sent, and must still match the INVITE we stamped."""
    first, comma, rest = via.partition(",")
    return _ADDED_BY_US.sub("", first) + comma + rest


def client_key(message: Request | Response) -> TransactionKey:
    """The key that matches a response to the client transaction that sent a request (17.1.3).

    Args:
        message: The request sent, or a response received.

    Returns:
        ``(branch of the top Via, CSeq method)``.

    Raises:
        BadRequest: Malformed Via or CSeq.
    """
    _, method = parse_cseq(message.get("CSeq") or "")
    return (branch_of(message.get("Via") or "") or "", method)


def response_destination(request: Request, source: Address, transport: Transport) -> Address:
    """Where responses to a request go (RFC 3261 18.2.2 with RFC 3581 rport).

    A sender behind a NAT (:func:`sender_behind_nat`) is answered at the source address and
    port even without ``rport``: its Via names a private address, so its port is the private
    one too, which the NAT does not let back in (Asterisk's ``force_rport``, FreeSWITCH's
    ``NDLB-force-rport``, kept here to senders a NAT has visibly rewritten).

    Args:
        request: The received request.
        source: Address it came from.
        transport: Transport it came on.

    Returns:
        The source address on TCP or TLS (its connection), with ``rport``, or from
        behind a NAT; otherwise the source IP and the Via's sent-by port (5060 by default).
    """
    via = request.get("Via") or ""
    if transport in STREAMS:
        return source
    try:
        params = via_params(via)
        _, _, port = via_sent_by(via)
    except SipError:
        return source
    if "rport" in params or sender_behind_nat(request, source):
        return source
    return (source[0], port or 5060)


def sender_behind_nat(request: Request, source: Address) -> bool:
    """Whether a request's sender does not know the address it is seen from: its top Via
    names an IP address other than the one the request came from, or (having asked for
    rport, RFC 3581) another port. A NAT rewrote its packets then, and the addresses it wrote
    itself (Via, Contact, SDP) are private ones nothing outside reaches; only the mapping the
    NAT opened, back to the source, does (Kamailio's ``nat_uac_test`` 2 and 16). A host name
    in the Via is not taken as a sign either way.

    Args:
        request: A received request (before or after ``received``/``rport`` were added).
        source: Address it came from.
    """
    via = request.get("Via") or ""
    try:
        params = via_params(via)
        _, host, port = via_sent_by(via)
        sent_by = ipaddress.ip_address(host)
        seen = ipaddress.ip_address(source[0])
    except (SipError, ValueError):
        return False
    if sent_by != seen:
        return True
    return "rport" in params and (port or 5060) != source[1]


class _Transaction:
    """Shared machinery: the table-driven move, the logged state setter, named timers."""

    kind: ClassVar[str]

    def __init__(
        self, key: TransactionKey, destination: Address, transport: Transport, state: TxState
    ) -> None:
        self.key = key
        self.destination = destination
        self.transport: Transport = transport
        self._state = state
        self.history: list[TxState] = [state]
        self._timers: dict[TxEvent, float] = {}

    @property
    def state(self) -> TxState:
        """Current state."""
        return self._state

    @property
    def reliable(self) -> bool:
        """True on a stream transport: no retransmissions, zero absorbing timers."""
        return self.transport in STREAMS

    @property
    def terminated(self) -> bool:
        """True once the transaction can be forgotten."""
        return self._state is TxState.TERMINATED

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        return min(self._timers.values(), default=None)

    def handle_timer(self, now: float) -> Effect:
        """Fires the timers due at ``now``, earliest first.

        Args:
            now: Current time in seconds.

        Returns:
            The retransmission to send and whether a timeout fired.
        """
        send: bytes | None = None
        timed_out = False
        for timer, deadline in sorted(self._timers.items(), key=lambda item: item[1]):
            if deadline > now or self._timers.get(timer) != deadline:
                continue
            del self._timers[timer]
            effect = self._fire(timer, now)
            send = effect.send or send
            timed_out = timed_out or effect.timed_out
        return Effect(send=send, timed_out=timed_out)

    def abandon(self) -> None:
        """Terminates a transaction still waiting for its final response."""
        self._move(TxEvent.ABANDON)

    def _fire(self, timer: TxEvent, now: float) -> Effect:
        self._move(timer)
        return NOTHING

    def _start(self, timer: TxEvent, deadline: float, now: float) -> None:
        """Starts a timer; a zero duration (TCP) fires it at once."""
        if deadline <= now:
            self._move(timer)
        else:
            self._timers[timer] = deadline

    def _move(self, event: TxEvent) -> TxState:
        try:
            state = TRANSITIONS[self.kind][self._state][event]
        except KeyError:
            raise TransactionError(
                f"{self.kind} {self.key[1]}: {event.value} in state {self._state.value}"
            ) from None
        if state is not self._state:
            self._set_state(state)
        return state

    def _set_state(self, state: TxState) -> None:
        log.debug("%s %s: %s -> %s", self.kind, self.key[1], self._state.value, state.value)
        self._state = state
        self.history.append(state)
        if state is TxState.TERMINATED:
            self._timers.clear()


class _ServerTransaction(_Transaction):
    def __init__(
        self,
        request: Request,
        destination: Address,
        transport: Transport,
        state: TxState,
        key: TransactionKey | None = None,
    ) -> None:
        super().__init__(key or server_key(request), destination, transport, state)
        self.request = request
        self.last_response: Response | None = None
        self._last_sent: bytes | None = None

    @property
    def final(self) -> bool:
        """True once a final response has been sent."""
        return self.last_response is not None and self.last_response.status >= 200

    def _record(self, response: Response) -> bytes:
        self.last_response = response
        self._last_sent = serialise(response)
        return self._last_sent


class ServerInviteTransaction(_ServerTransaction):
    """INVITE server transaction (RFC 3261 17.2.1, RFC 6026)."""

    kind = "server-invite"

    def __init__(
        self,
        request: Request,
        destination: Address,
        transport: Transport,
        key: TransactionKey | None = None,
    ) -> None:
        super().__init__(request, destination, transport, TxState.PROCEEDING, key)
        self._interval = T1

    def receive_request(self, request: Request, now: float) -> Effect:
        """Handles a retransmitted INVITE or an ACK matching this transaction.

        Args:
            request: The INVITE again, or an ACK.
            now: Current time.

        Returns:
            The latest response to re-send for an INVITE; ``deliver`` for an ACK in Accepted
            (an RFC 2543-style ACK for a 2xx, which belongs to the TU).
        """
        if request.method == "ACK":
            previous = self._state
            state = self._move(TxEvent.ACK)
            if previous is TxState.COMPLETED:
                self._timers.pop(TxEvent.TIMER_G, None)
                self._timers.pop(TxEvent.TIMER_H, None)
                self._start(TxEvent.TIMER_I, now + (0 if self.reliable else T4), now)
            return Effect(deliver=state is TxState.ACCEPTED)
        state = self._move(TxEvent.REQUEST)
        return Effect(send=self._last_sent) if state is not TxState.CONFIRMED else NOTHING

    def respond(self, response: Response, now: float) -> bytes:
        """Sends a response from the TU.

        Args:
            response: Provisional or final response to the INVITE.
            now: Current time.

        Returns:
            The wire bytes to send to :attr:`destination`.

        Raises:
            TransactionError: A response after a non-2xx final, or a provisional after a 2xx.
        """
        previous = self._state
        event = _response_event(response.status)
        self._move(event)
        data = self._record(response)
        if event is TxEvent.FAILURE:
            if not self.reliable:
                self._timers[TxEvent.TIMER_G] = now + T1
            self._timers[TxEvent.TIMER_H] = now + TIMEOUT
        elif event is TxEvent.SUCCESS and previous is TxState.PROCEEDING:
            self._timers[TxEvent.TIMER_L] = now + TIMEOUT
        return data

    def _fire(self, timer: TxEvent, now: float) -> Effect:
        self._move(timer)
        if timer is TxEvent.TIMER_G:
            self._interval = min(2 * self._interval, T2)
            self._timers[TxEvent.TIMER_G] = now + self._interval
            return Effect(send=self._last_sent)
        return Effect(timed_out=timer is TxEvent.TIMER_H)


class ServerNonInviteTransaction(_ServerTransaction):
    """Non-INVITE server transaction (RFC 3261 17.2.2)."""

    kind = "server-non-invite"

    def __init__(
        self,
        request: Request,
        destination: Address,
        transport: Transport,
        key: TransactionKey | None = None,
    ) -> None:
        super().__init__(request, destination, transport, TxState.TRYING, key)

    def receive_request(self, request: Request, now: float) -> Effect:
        """Handles a retransmission of the request: re-sends the latest response, if any.

        Args:
            request: The retransmitted request.
            now: Current time.

        Returns:
            The response to re-send.
        """
        state = self._move(TxEvent.REQUEST)
        return Effect(send=self._last_sent) if state is not TxState.TRYING else NOTHING

    def respond(self, response: Response, now: float) -> bytes:
        """Sends a response from the TU.

        Args:
            response: Provisional or final response.
            now: Current time.

        Returns:
            The wire bytes to send to :attr:`destination`.

        Raises:
            TransactionError: A response after the final one.
        """
        event = _response_event(response.status)
        self._move(event)
        data = self._record(response)
        if event is not TxEvent.PROVISIONAL:
            self._start(TxEvent.TIMER_J, now + (0 if self.reliable else TIMEOUT), now)
        return data


def ack_for(invite: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a non-2xx final (RFC 3261 17.1.1.3).

    Args:
        invite: The INVITE sent.
        response: The non-2xx final response received.

    Returns:
        An ACK with the INVITE's Request-URI, top Via, From, Call-ID, CSeq number and Route,
        and the response's To.
    """
    number, _ = parse_cseq(invite.get("CSeq") or "")
    headers = [
        ("Via", invite.get("Via") or ""),
        ("Max-Forwards", "70"),
        ("From", invite.get("From") or ""),
        ("To", response.get("To") or ""),
        ("Call-ID", invite.get("Call-ID") or ""),
        ("CSeq", f"{number} ACK"),
    ]
    headers.extend(("Route", route) for route in invite.get_all("Route"))
    return Request("ACK", invite.uri, headers)


class _ClientTransaction(_Transaction):
    def __init__(
        self, request: Request, destination: Address, transport: Transport, now: float
    ) -> None:
        super().__init__(client_key(request), destination, transport, self._initial_state())
        self.request = request
        self.data = serialise(request)
        self._interval = T1
        if not self.reliable:
            self._timers[self._retransmit_timer()] = now + T1
        self._timers[self._timeout_timer()] = now + TIMEOUT

    @staticmethod
    def _initial_state() -> TxState:
        return TxState.TRYING

    @staticmethod
    def _retransmit_timer() -> TxEvent:
        return TxEvent.TIMER_E

    @staticmethod
    def _timeout_timer() -> TxEvent:
        return TxEvent.TIMER_F


class ClientInviteTransaction(_ClientTransaction):
    """INVITE client transaction (RFC 3261 17.1.1, RFC 6026). Send :attr:`data` first."""

    kind = "client-invite"

    def __init__(
        self, request: Request, destination: Address, transport: Transport, now: float
    ) -> None:
        super().__init__(request, destination, transport, now)
        self._ack: bytes | None = None

    @staticmethod
    def _initial_state() -> TxState:
        return TxState.CALLING

    @staticmethod
    def _retransmit_timer() -> TxEvent:
        return TxEvent.TIMER_A

    @staticmethod
    def _timeout_timer() -> TxEvent:
        return TxEvent.TIMER_B

    def receive_response(self, response: Response, now: float) -> Effect:
        """Handles a response matching this transaction.

        Args:
            response: The response.
            now: Current time.

        Returns:
            ``deliver`` for the TU (first provisional and final responses, and every 2xx,
            whose ACK is the TU's job); ``send`` holds the ACK for a non-2xx final.
        """
        previous = self._state
        event = _response_event(response.status)
        self._move(event)
        if previous is TxState.COMPLETED:
            return Effect(send=self._ack if event is TxEvent.FAILURE else None)
        if previous is TxState.ACCEPTED:
            return Effect(deliver=event is TxEvent.SUCCESS)
        self._timers.pop(TxEvent.TIMER_A, None)
        if event is TxEvent.PROVISIONAL:
            self._timers.pop(TxEvent.TIMER_B, None)
            return Effect(deliver=True)
        self._timers.pop(TxEvent.TIMER_B, None)
        if event is TxEvent.SUCCESS:
            self._timers[TxEvent.TIMER_M] = now + TIMEOUT
            return Effect(deliver=True)
        self._ack = serialise(ack_for(self.request, response))
        ack = self._ack
        self._start(TxEvent.TIMER_D, now + (0 if self.reliable else TIMEOUT), now)
        return Effect(send=ack, deliver=True)

    def _fire(self, timer: TxEvent, now: float) -> Effect:
        self._move(timer)
        if timer is TxEvent.TIMER_A:
            self._interval *= 2
            self._timers[TxEvent.TIMER_A] = now + self._interval
            return Effect(send=self.data)
        return Effect(timed_out=timer is TxEvent.TIMER_B)


class ClientNonInviteTransaction(_ClientTransaction):
    """Non-INVITE client transaction (RFC 3261 17.1.2). Send :attr:`data` first."""

    kind = "client-non-invite"

    def receive_response(self, response: Response, now: float) -> Effect:
        """Handles a response matching this transaction.

        Args:
            response: The response.
            now: Current time.

        Returns:
            ``deliver`` for responses the TU has not seen the like of (retransmitted finals
            are absorbed).
        """
        previous = self._state
        event = _response_event(response.status)
        state = self._move(event)
        if previous is TxState.COMPLETED:
            return NOTHING
        if state is TxState.COMPLETED:
            self._timers.clear()
            self._start(TxEvent.TIMER_K, now + (0 if self.reliable else T4), now)
        return Effect(deliver=True)

    def _fire(self, timer: TxEvent, now: float) -> Effect:
        state = self._move(timer)
        if timer is TxEvent.TIMER_E:
            self._interval = T2 if state is TxState.PROCEEDING else min(2 * self._interval, T2)
            self._timers[TxEvent.TIMER_E] = now + self._interval
            return Effect(send=self.data)
        return Effect(timed_out=timer is TxEvent.TIMER_F)
