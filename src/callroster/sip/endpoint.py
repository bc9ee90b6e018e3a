"""The SIP endpoint: the one pure object the asyncio adapter drives.

Bytes and ``now`` go in (:meth:`SipEndpoint.receive`, :meth:`SipEndpoint.handle_timer`);
datagrams, events and the next timer come out (:meth:`~SipEndpoint.datagrams`,
:meth:`~SipEndpoint.events`, :meth:`~SipEndpoint.next_timer`). The adapter's loop, as in
aioquic: receive, hand the events to the application, send the datagrams, re-arm one timer.
The application answers events with commands (:meth:`~SipEndpoint.answer`,
:meth:`~SipEndpoint.hangup`, :meth:`~SipEndpoint.dial`), after which the adapter drains again.

What the endpoint does on its own: 100 Trying for every INVITE; 200 to OPTIONS, INFO, BYE and
CANCEL (plus 487 to the cancelled INVITE); 481 outside a dialog; 405 for other methods; 420
for an unknown Require; 422 for a short Session-Expires; 500 for an out-of-order CSeq; 503
beyond ``max_calls``; ACKs for 2xx (again for every 2xx retransmission); BYE when our 2xx is
never acknowledged or the session timer runs out; session refreshes when we are the refresher.

Calls are keyed by their SIP Call-ID; two dialogs sharing one Call-ID (forking) are not
supported: a second INVITE with a known Call-ID and no To tag gets 482.

Exceptions:
    EndpointError: base of what the commands raise.
    CallLimitReached: :meth:`~SipEndpoint.dial` with ``max_calls`` calls in progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from callroster.sip.dialog import Dialog, DialogState
from callroster.sip.events import (
    CallAcknowledged,
    CallAnswered,
    CallCancelled,
    CallEnded,
    CallFailed,
    CallProgressed,
    Event,
    IncomingCall,
    InfoReceived,
    Outgoing,
    ReInvite,
)
from callroster.sip.message import (
    Request,
    Response,
    SipError,
    _canon,
    _split_top,
    parse_cseq,
    parse_message,
    parse_stream,
    response_to,
    serialise,
    via_params,
    via_sent_by,
)
from callroster.sip.session_timer import (
    MIN_SE,
    SessionTerms,
    SessionTimer,
    negotiate_as_uac,
    negotiate_as_uas,
)
from callroster.sip.transaction import (
    TIMEOUT,
    Address,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TransactionKey,
    Transport,
    TxState,
    client_key,
    response_destination,
    server_key,
)
from callroster.sip.uri import parse_name_addr, parse_uri

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"
SUPPORTED = "timer"
MAX_STREAMS = 1024  # TCP receive buffers kept; the oldest is dropped beyond this
OUT_OF_DIALOG_481 = frozenset({"BYE", "INFO", "UPDATE", "PRACK"})
Purpose = Literal["invite", "refresh", "bye", "cancel"]
ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction
ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction


class EndpointError(Exception):
    """A command the endpoint cannot carry out."""


class CallLimitReached(EndpointError):
    """``max_calls`` calls are in progress."""


class _Refused(SipError):
    """A request the endpoint answers with ``code`` and optional extra headers."""

    def __init__(
        self, code: int, reason: str, detail: str = "", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(detail or reason)
        self.code = code
        self.reason = reason
        self.headers = tuple(headers)

    def response_for(self, request: Request, *, to_tag: str | None = None) -> Response:
        return response_to(
            request, self.code, self.reason, to_tag=to_tag, extra_headers=self.headers
        )


@dataclass(eq=False)
class _Call:
    """Everything the endpoint tracks for one Call-ID."""

    call_id: str
    role: Literal["uac", "uas"]
    transport: Transport
    answer_to: Address  # where our responses (and 2xx retransmissions) go
    dialog: Dialog | None
    invite_key: TransactionKey | None = None  # initial INVITE, until its final response
    reinvite_key: TransactionKey | None = None  # the peer's re-INVITE, until answered
    refresh_key: TransactionKey | None = None  # our session refresh, until it completes
    session_terms: SessionTerms | None = None  # for the 2xx to the pending (re-)INVITE
    deadline: float | None = None  # answer by (UAS); give up waiting (UAC)
    local_body: bytes = b""
    local_body_type: str | None = None
    peer_allows_update: bool = False
    hangup_requested: bool = False
    cancel_sent: bool = False


@dataclass(eq=False)
class _ClientEntry:
    tx: ClientTransaction
    call_id: str
    purpose: Purpose
    acks: dict[str, Outgoing] = field(default_factory=dict)  # To tag of a 2xx -> its ACK


@dataclass(frozen=True)
class _Limits:
    max_calls: int
    max_transactions: int
    min_se: int
    answer_timeout: float
    session_expires: int | None


def _allows(message: Request | Response, method: str) -> bool:
    return any(value.strip(" \t").upper() == method for value in message.get_all("Allow"))


def _stamp_via(request: Request, source: Address) -> Request:
    """Adds ``received`` (and fills ``rport``) on the top Via (RFC 3261 18.2.1, RFC 3581)."""
    headers = list(request.headers)
    for index, (name, value) in enumerate(headers):
        if _canon(name) != "via":
            continue
        first, *rest = _split_top(value, ",")
        params = via_params(first)
        _, host, _ = via_sent_by(first)
        parts = _split_top(first, ";")
        if "rport" in params and params["rport"] is None:
            parts = [
                f"rport={source[1]}" if p.strip(" \t").lower() == "rport" else p for p in parts
            ]
        if "received" not in params and (host != source[0] or "rport" in params):
            parts.append(f"received={source[0]}")
        headers[index] = (name, ",".join([";".join(parts), *rest]))
        return replace(request, headers=headers)
    return request


def _to_tag(message: Request | Response) -> str | None:
    """The To tag, after checking that From and To parse (so later code can rely on it).

    Raises:
        BadRequest: From or To is malformed.
    """
    parse_name_addr(message.get("From") or "")
    return parse_name_addr(message.get("To") or "").tag


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class SipEndpoint:
    """A SIP user agent (UAS and UAC) over UDP and TCP, without I/O.

    Args:
        local_host: Address or name we are reached at (Via, Contact, From).
        local_port: Port we listen on, for UDP and TCP alike.
        ids: Returns a fresh random token on every call: tags, branches, Call-IDs.
        user_agent: User-Agent of our requests.
        max_calls: Calls in progress beyond which INVITEs get 503.
        max_transactions: Server (and client) transactions kept; beyond it requests get a
            stateless 503.
        min_se: Our Min-SE (RFC 4028); shorter Session-Expires get 422.
        answer_timeout: Seconds an incoming INVITE may wait for :meth:`answer` (then 480 and
            ``CallEnded(reason="unanswered")``); also how long our INVITE may ring.
        session_expires: Session-Expires offered in our INVITEs (None: no session timer).
    """

    def __init__(
        self,
        local_host: str,
        local_port: int,
        ids: Callable[[], str],
        user_agent: str = "Callroster",
        *,
        max_calls: int = 1000,
        max_transactions: int = 10_000,
        min_se: int = MIN_SE,
        answer_timeout: float = 180.0,
        session_expires: int | None = 1800,
    ) -> None:
        self.local_host = local_host
        self.local_port = local_port
        self._ids = ids
        self.user_agent = user_agent
        self._limits = _Limits(max_calls, max_transactions, min_se, answer_timeout, session_expires)
        self._calls: dict[str, _Call] = {}
        self._server: dict[TransactionKey, ServerTransaction] = {}
        self._client: dict[TransactionKey, _ClientEntry] = {}
        self._streams: dict[Address, bytearray] = {}
        self._outgoing: list[Outgoing] = []
        self._events: list[Event] = []
        self._now = 0.0

    # -- the adapter's side ------------------------------------------------------------------

    def receive(self, data: bytes, source: Address, transport: Transport, now: float) -> None:
        """Takes bytes received from the network. Never raises on bad input.

        Args:
            data: A UDP datagram, or the next chunk of a TCP stream from ``source`` (framed
                here by Content-Length; partial messages wait for the next chunk).
            source: ``(host, port)`` it came from.
            transport: ``"udp"`` or ``"tcp"``.
            now: Current time in seconds (any monotonic clock).
        """
        self._now = now
        if transport == "tcp":
            messages = self._frame(data, source)
        elif not data.strip(b"\r\n"):
            return  # keep-alive
        else:
            try:
                messages = [parse_message(data)]
            except SipError as exc:
                self._refuse_unparsed(exc, source, transport)
                return
        for message in messages:
            self._dispatch(message, source, transport, now)

    def connection_closed(self, source: Address) -> None:
        """Forgets the TCP receive buffer of a closed connection."""
        self._streams.pop(source, None)

    def datagrams(self) -> list[Outgoing]:
        """Takes the messages to send, oldest first."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def events(self) -> list[Event]:
        """Takes the events for the application, oldest first."""
        events, self._events = self._events, []
        return events

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        deadlines = [tx.next_timer() for tx in self._server.values()]
        deadlines += [entry.tx.next_timer() for entry in self._client.values()]
        for call in self._calls.values():
            deadlines.append(call.deadline)
            if call.dialog is not None:
                deadlines.append(call.dialog.next_timer())
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timer(self, now: float) -> None:
        """Fires every timer due at ``now``: retransmissions, timeouts, session timers."""
        self._now = now
        for key, tx in list(self._server.items()):
            deadline = tx.next_timer()
            if deadline is not None and deadline <= now:
                self._send(tx.handle_timer(now).send, tx.destination, tx.transport)
                self._reap_server(key)
        for key, entry in list(self._client.items()):
            deadline = entry.tx.next_timer()
            if deadline is not None and deadline <= now:
                effect = entry.tx.handle_timer(now)
                self._send(effect.send, entry.tx.destination, entry.tx.transport)
                if effect.timed_out:
                    self._client_failed(entry, 408, "Request Timeout", now)
                self._reap_client(key)
        for call in list(self._calls.values()):
            if self._calls.get(call.call_id) is call:
                self._call_timers(call, now)

    @property
    def counts(self) -> Mapping[str, int]:
        """How much state is held: calls, transactions and TCP buffers."""
        return {
            "calls": len(self._calls),
            "server_transactions": len(self._server),
            "client_transactions": len(self._client),
            "streams": len(self._streams),
        }

    # -- the application's side --------------------------------------------------------------

    def answer(
        self,
        call_id: str,
        status: int,
        reason: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        now: float | None = None,
    ) -> None:
        """Answers the pending INVITE or re-INVITE of a call.

        A 2xx confirms the dialog (with our Contact, Allow, Supported and the session timer
        terms) and is re-sent until its ACK; a non-2xx final to the initial INVITE forgets the
        call. A call that has gone meanwhile (CANCEL, BYE) is ignored.

        Args:
            call_id: The call's Call-ID.
            status: 101-699 (100 was sent already, but is allowed).
            reason: Reason phrase.
            body: e.g. the SDP answer.
            content_type: Its Content-Type.
            extra_headers: More headers for the response.
            now: Current time; by default the time last passed in.

        Raises:
            ValueError: ``status`` outside 100-699.
        """
        if not 100 <= status <= 699:
            raise ValueError(f"status {status} outside 100-699")
        now = self._now if now is None else now
        self._now = now
        call = self._calls.get(call_id)
        key = None if call is None else call.reinvite_key or call.invite_key
        tx = self._server.get(key) if key is not None else None
        if call is None or call.dialog is None or not isinstance(tx, ServerInviteTransaction):
            log.info("[%s] answer %s ignored: no INVITE waiting", call_id, status)
            return
        dialog, initial = call.dialog, key == call.invite_key
        headers = list(extra_headers)
        if 101 <= status < 300:
            headers.append(("Contact", self._contact(call.transport)))
        if 200 <= status < 300:
            headers += [("Allow", ALLOW), ("Supported", SUPPORTED)]
            headers += call.session_terms.headers() if call.session_terms else []
        to_tag = None if status == 100 else dialog.local_tag
        response = response_to(
            tx.request,
            status,
            reason,
            to_tag=to_tag,
            extra_headers=headers,
            body=body,
            content_type=content_type,
        )
        data = self._respond(tx, response, now)
        if status < 200:
            return
        if initial:
            call.invite_key = None
        else:
            call.reinvite_key = None
        call.deadline = None
        terms, call.session_terms = call.session_terms, None
        if status >= 300:
            if initial:
                dialog.rejected()
                self._finish(call, now, None)
            return
        call.answer_to = tx.destination
        number, _ = parse_cseq(tx.request.get("CSeq") or "")
        dialog.answered(number, data, now, reliable=tx.reliable)
        if body:
            call.local_body, call.local_body_type = body, content_type
        if not initial:
            dialog.refresh_target(tx.request)
        self._renew_session(call, terms, we_are_uac=False, now=now)

    def hangup(self, call_id: str, now: float) -> None:
        """Ends a call: BYE once established, 487 to an INVITE not yet answered, CANCEL for
        our own INVITE still ringing. Unknown or finished calls are ignored.

        Args:
            call_id: The call's Call-ID.
            now: Current time.
        """
        self._now = now
        call = self._calls.get(call_id)
        if call is None:
            return
        dialog = call.dialog
        if call.role == "uas" and call.invite_key is not None:
            self._finish(call, now, None)
        elif dialog is not None and dialog.state is DialogState.ANSWERED:
            call.hangup_requested = True  # RFC 3261 15: no BYE before the ACK (or its timeout)
        elif dialog is not None:
            self._send_bye(call, now)
            self._finish(call, now, None)
        else:
            call.hangup_requested = True
            entry = self._client.get(call.invite_key) if call.invite_key else None
            if entry is None:
                self._finish(call, now, None)
            elif entry.tx.state is TxState.PROCEEDING and not call.cancel_sent:
                self._send_cancel(call, entry, now)
            # Still Calling: the CANCEL waits for a provisional response (RFC 3261 9.1).

    def dial(
        self,
        uri: str,
        destination: Address,
        transport: Transport,
        now: float,
        *,
        from_user: str = "callroster",
        display_name: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> str:
        """Sends an INVITE (the bridge dialling out).

        Args:
            uri: Request-URI and To, e.g. ``sip:+442071234567@carrier.example``.
            destination: Next hop ``(host, port)``.
            transport: ``"udp"`` or ``"tcp"``.
            now: Current time.
            from_user: User part of our From URI.
            display_name: Display name of From.
            body: SDP offer.
            content_type: Its Content-Type.
            extra_headers: More headers.

        Returns:
            The new call's Call-ID, which later events carry.

        Raises:
            CallLimitReached: ``max_calls`` calls in progress.
            ValueError: ``uri`` is not a SIP URI.
        """
        self._now = now
        if len(self._calls) >= self._limits.max_calls:
            raise CallLimitReached(f"{len(self._calls)} calls in progress")
        try:
            if parse_uri(uri).scheme == "tel":
                raise ValueError(f"not a SIP URI: {uri!r}")
        except SipError as exc:
            raise ValueError(str(exc)) from None
        call_id = f"{self._ids()}@{_host(self.local_host)}"
        name = "" if display_name is None else '"' + display_name.replace('"', "") + '" '
        local = f"sip:{from_user}@{_host(self.local_host)}"
        headers = [
            ("Via", self._via(transport)),
            ("Max-Forwards", "70"),
            ("From", f"{name}<{local}>;tag={self._ids()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", self._contact(transport)),
            ("Allow", ALLOW),
            ("Supported", SUPPORTED),
            ("User-Agent", self.user_agent),
        ]
        if self._limits.session_expires is not None:
            headers += [
                ("Session-Expires", str(self._limits.session_expires)),
                ("Min-SE", str(self._limits.min_se)),
            ]
        headers.extend(extra_headers)
        if body and content_type is not None:
            headers.append(("Content-Type", content_type))
        invite = Request("INVITE", uri, headers, body)
        call = _Call(call_id, "uac", transport, destination, None)
        call.local_body, call.local_body_type = body, content_type
        call.deadline = now + self._limits.answer_timeout
        call.invite_key = self._start_client(invite, destination, transport, call_id, "invite", now)
        self._calls[call_id] = call
        return call_id

    # -- receiving ---------------------------------------------------------------------------

    def _frame(self, data: bytes, source: Address) -> list[Request | Response]:
        buffer = self._streams.pop(source, None) or bytearray()
        buffer += data
        messages: list[Request | Response] = []
        while True:
            before = len(buffer)
            try:
                batch = parse_stream(buffer)
            except SipError as exc:
                self._refuse_unparsed(exc, source, "tcp")
                if len(buffer) == before:
                    buffer.clear()  # broken framing: nothing can be recovered from it
                continue
            if not batch:
                break
            messages += batch
        if buffer:
            self._streams[source] = buffer
            while len(self._streams) > MAX_STREAMS:
                del self._streams[next(iter(self._streams))]
        return messages

    def _refuse_unparsed(self, exc: SipError, source: Address, transport: Transport) -> None:
        log.info("sip: malformed message from %s: %s", source, exc)
        request = exc.request
        if request is not None and request.method != "ACK" and request.get("Via"):
            destination = response_destination(request, source, transport)
            self._send_stateless(
                exc.response_for(request, to_tag=self._ids()), destination, transport
            )

    def _dispatch(
        self, message: Request | Response, source: Address, transport: Transport, now: float
    ) -> None:
        try:
            if isinstance(message, Response):
                self._on_response(message, now)
            else:
                self._on_request(message, source, transport, now)
        except SipError as exc:
            log.info("sip: refused a message from %s: %s", source, exc)
            if isinstance(message, Request) and message.method != "ACK":
                destination = response_destination(message, source, transport)
                self._send_stateless(
                    exc.response_for(message, to_tag=self._ids()), destination, transport
                )
        except ValueError as exc:  # a value we could not put into a message of our own
            log.warning("sip: dropped a message from %s: %s", source, exc)

    def _on_request(
        self, request: Request, source: Address, transport: Transport, now: float
    ) -> None:
        _to_tag(request)  # a malformed From or To is answered 400 before anything changes
        if request.method != "ACK":
            request = _stamp_via(request, source)
        key = server_key(request)
        tx = self._server.get(key)
        if tx is not None:
            try:
                effect = tx.receive_request(request, now)
                self._send(effect.send, tx.destination, tx.transport)
                if effect.deliver:
                    self._on_ack(request, now)
            finally:
                self._reap_server(key)
            return
        if request.method == "ACK":
            self._on_ack(request, now)
            return
        if len(self._server) >= self._limits.max_transactions:
            raise _Refused(503, "Service Unavailable", headers=[("Retry-After", "5")])
        destination = response_destination(request, source, transport)
        if request.method == "INVITE":
            tx = ServerInviteTransaction(request, destination, transport, key)
        else:
            tx = ServerNonInviteTransaction(request, destination, transport, key)
        self._server[key] = tx
        try:
            self._on_new_request(tx, request, source, now)
        except SipError as exc:
            log.info("sip: refused %s from %s: %s", request.method, source, exc)
            if not tx.final:
                self._respond(tx, exc.response_for(request, to_tag=self._ids()), now)
        finally:
            self._reap_server(key)

    def _on_new_request(
        self, tx: ServerTransaction, request: Request, source: Address, now: float
    ) -> None:
        method = request.method
        unsupported = [tag for tag in request.get_all("Require") if tag.lower() != "timer"]
        if unsupported and method != "CANCEL":
            raise _Refused(420, "Bad Extension", headers=[("Unsupported", ", ".join(unsupported))])
        if method == "CANCEL":
            self._on_cancel(tx, request, now)
        elif parse_name_addr(request.get("To") or "").tag is not None:
            self._on_in_dialog(tx, request, now)
        elif method == "INVITE" and isinstance(tx, ServerInviteTransaction):
            self._on_invite(tx, request, source, now)
        elif method == "OPTIONS":
            self._respond(tx, self._ok(request, self._ids(), options=True), now)
        elif method in OUT_OF_DIALOG_481:
            raise _Refused(481, "Call/Transaction Does Not Exist")
        else:
            raise _Refused(405, "Method Not Allowed", headers=[("Allow", ALLOW)])

    def _on_invite(
        self, tx: ServerInviteTransaction, request: Request, source: Address, now: float
    ) -> None:
        call_id = request.get("Call-ID") or ""
        if call_id in self._calls:
            raise _Refused(482, "Loop Detected", "a second INVITE for a known Call-ID")
        if len(self._calls) >= self._limits.max_calls:
            raise _Refused(503, "Service Unavailable", headers=[("Retry-After", "30")])
        terms = negotiate_as_uas(request, self._limits.min_se)
        dialog = Dialog.for_uas(request, self._ids())
        call = _Call(call_id, "uas", tx.transport, tx.destination, dialog, invite_key=tx.key)
        call.session_terms = terms
        call.deadline = now + self._limits.answer_timeout
        call.peer_allows_update = _allows(request, "UPDATE")
        self._calls[call_id] = call
        self._respond(tx, response_to(request, 100, "Trying"), now)
        self._events.append(IncomingCall(call_id, request, source, tx.transport))

    def _on_in_dialog(self, tx: ServerTransaction, request: Request, now: float) -> None:
        call = self._calls.get(request.get("Call-ID") or "")
        dialog = call.dialog if call is not None else None
        if (
            call is None
            or dialog is None
            or dialog.state is DialogState.TERMINATED
            or not dialog.matches(request)
        ):
            raise _Refused(481, "Call/Transaction Does Not Exist")
        dialog.check_remote_cseq(request)
        method = request.method
        if method == "BYE":
            self._respond(tx, self._ok(request), now)
            self._finish(call, now, CallEnded(call.call_id, "bye"))
        elif method == "INFO":
            self._respond(tx, self._ok(request), now)
            self._events.append(InfoReceived(call.call_id, request))
        elif method == "OPTIONS":
            self._respond(tx, self._ok(request, options=True), now)
        elif method == "INVITE" and isinstance(tx, ServerInviteTransaction):
            self._on_reinvite(call, tx, request, now)
        elif method == "UPDATE":
            self._on_update(call, dialog, tx, request, now)
        else:
            raise _Refused(405, "Method Not Allowed", headers=[("Allow", ALLOW)])

    def _on_reinvite(
        self, call: _Call, tx: ServerInviteTransaction, request: Request, now: float
    ) -> None:
        if call.invite_key is not None or call.reinvite_key is not None:
            raise _Refused(500, "Server Internal Error", headers=[("Retry-After", "5")])
        if call.refresh_key is not None:
            raise _Refused(491, "Request Pending")  # glare with our refresh (RFC 3261 14.2)
        call.session_terms = negotiate_as_uas(request, self._limits.min_se)
        call.reinvite_key = tx.key
        call.deadline = now + TIMEOUT
        self._respond(tx, response_to(request, 100, "Trying"), now)
        self._events.append(ReInvite(call.call_id, request))

    def _on_update(
        self, call: _Call, dialog: Dialog, tx: ServerTransaction, request: Request, now: float
    ) -> None:
        if call.refresh_key is not None:
            raise _Refused(491, "Request Pending")
        if request.body:
            raise _Refused(488, "Not Acceptable Here", "SDP in UPDATE is not supported")
        terms = negotiate_as_uas(request, self._limits.min_se)
        headers = [("Contact", self._contact(call.transport)), ("Supported", SUPPORTED)]
        if terms is not None:
            headers += terms.headers()
        self._respond(tx, self._ok(request, extra=headers), now)
        dialog.refresh_target(request)
        self._renew_session(call, terms, we_are_uac=False, now=now)

    def _on_cancel(self, tx: ServerTransaction, cancel: Request, now: float) -> None:
        invite_key = server_key(cancel, method="INVITE")
        invite_tx = self._server.get(invite_key)
        if not isinstance(invite_tx, ServerInviteTransaction):
            raise _Refused(481, "Call/Transaction Does Not Exist")
        call = self._calls.get(cancel.get("Call-ID") or "")
        tag = call.dialog.local_tag if call is not None and call.dialog is not None else None
        self._respond(tx, self._ok(cancel, tag or self._ids()), now)
        if invite_tx.final:
            return
        if call is not None and call.invite_key == invite_key:
            self._finish(call, now, CallCancelled(call.call_id))
            return
        terminated = response_to(invite_tx.request, 487, "Request Terminated", to_tag=tag)
        self._respond(invite_tx, terminated, now)
        self._reap_server(invite_key)
        if call is not None and call.reinvite_key == invite_key:
            call.reinvite_key = call.session_terms = call.deadline = None

    def _on_ack(self, ack: Request, now: float) -> None:
        call = self._calls.get(ack.get("Call-ID") or "")
        dialog = call.dialog if call is not None else None
        if call is None or dialog is None or dialog.state is DialogState.EARLY:
            return
        if not dialog.matches(ack):
            return
        if dialog.acknowledged(ack):
            self._events.append(CallAcknowledged(call.call_id, ack.body))
            if call.hangup_requested:
                self._send_bye(call, now)
                self._finish(call, now, None)

    def _on_response(self, response: Response, now: float) -> None:
        to_tag = _to_tag(response)  # malformed responses are dropped before anything changes
        key = client_key(response)
        entry = self._client.get(key)
        if entry is None:
            self._on_stray_response(response)
            return
        try:
            effect = entry.tx.receive_response(response, now)
            self._send(effect.send, entry.tx.destination, entry.tx.transport)
            ack = entry.acks.get(to_tag or "")
            if ack is not None and 200 <= response.status < 300:
                self._outgoing.append(ack)  # a retransmitted 2xx: the same ACK again
            elif effect.deliver:
                if entry.purpose == "invite":
                    self._on_invite_response(entry, response, now)
                elif entry.purpose == "refresh":
                    self._on_refresh_response(entry, response, now)
        finally:
            self._reap_client(key)

    def _on_stray_response(self, response: Response) -> None:
        """A 2xx to our INVITE after its transaction ended: re-send the ACK (RFC 3261 13.2.2.4)."""
        number, method = parse_cseq(response.get("CSeq") or "")
        call = self._calls.get(response.get("Call-ID") or "")
        dialog = call.dialog if call is not None else None
        if call is None or dialog is None or method != "INVITE" or response.status >= 300:
            return
        if dialog.last_ack is not None and dialog.last_ack[0] == number:
            if parse_name_addr(response.get("To") or "").tag == dialog.remote_tag:
                host, port, transport = dialog.next_hop(call.transport)
                self._send(dialog.last_ack[1], (host, port), transport)

    def _on_invite_response(self, entry: _ClientEntry, response: Response, now: float) -> None:
        call = self._calls.get(entry.call_id)
        status = response.status
        if call is None or call.invite_key != entry.tx.key:
            if 200 <= status < 300:  # for a call given up, or a second (forked) 2xx
                self._ack_and_bye(entry, response, now)
            return
        if status < 200:
            if call.hangup_requested and not call.cancel_sent:
                self._send_cancel(call, entry, now)
            elif status > 100 and not call.hangup_requested:
                self._events.append(CallProgressed(call.call_id, response))
        elif status >= 300:
            call.invite_key = None
            event = CallFailed(call.call_id, status, response.reason)
            self._finish(call, now, None if call.hangup_requested else event)
        else:
            self._on_answered(call, entry, response, now)

    def _on_answered(
        self, call: _Call, entry: _ClientEntry, response: Response, now: float
    ) -> None:
        invite = entry.tx.request
        call.invite_key = call.deadline = None
        try:
            dialog = Dialog.for_uac(invite, response)
            hop = dialog.next_hop(call.transport)
        except SipError as exc:
            log.info("[%s] unusable 2xx: %s", call.call_id, exc)
            self._finish(call, now, CallFailed(call.call_id, 502, "Bad Gateway"))
            return
        call.dialog = dialog
        self._ack(entry, dialog, hop)
        terms = negotiate_as_uac(response)
        if terms is not None:
            dialog.session = SessionTimer.from_terms(terms, we_are_uac=True, now=now)
        call.peer_allows_update = _allows(response, "UPDATE")
        if call.hangup_requested:
            self._send_bye(call, now)
            self._finish(call, now, None)
        else:
            self._events.append(CallAnswered(call.call_id, response))

    def _on_refresh_response(self, entry: _ClientEntry, response: Response, now: float) -> None:
        call = self._calls.get(entry.call_id)
        dialog = call.dialog if call is not None else None
        status = response.status
        if call is None or dialog is None or status < 200:
            return
        if status < 300:
            if entry.tx.request.method == "INVITE":
                self._ack(entry, dialog, dialog.next_hop(call.transport))
            if call.refresh_key == entry.tx.key:
                call.refresh_key = None
                dialog.refresh_target(response)
                self._renew_session(call, negotiate_as_uac(response), we_are_uac=True, now=now)
        elif call.refresh_key == entry.tx.key:
            self._client_failed(entry, status, response.reason, now)

    def _client_failed(self, entry: _ClientEntry, status: int, reason: str, now: float) -> None:
        """A client transaction timed out (408) or a refresh was refused."""
        call = self._calls.get(entry.call_id)
        if call is None:
            return
        if entry.purpose == "invite" and call.invite_key == entry.tx.key:
            call.invite_key = None
            event = CallFailed(call.call_id, status, reason)
            self._finish(call, now, None if call.hangup_requested else event)
        elif entry.purpose == "refresh" and call.refresh_key == entry.tx.key:
            call.refresh_key = None
            if status in (408, 481):  # the dialog is gone (RFC 5057)
                if status == 408:
                    self._send_bye(call, now)
                self._finish(call, now, CallEnded(call.call_id, "refresh-failed"))
            elif call.dialog is not None and call.dialog.session is not None:
                call.dialog.session.refresh_failed(now)

    # -- timers ------------------------------------------------------------------------------

    def _call_timers(self, call: _Call, now: float) -> None:
        if call.deadline is not None and now >= call.deadline:
            call.deadline = None
            self._deadline_passed(call, now)
            if self._calls.get(call.call_id) is not call:
                return
        dialog = call.dialog
        deadline = dialog.next_timer() if dialog is not None else None
        if dialog is None or deadline is None or deadline > now:
            return
        alarms = dialog.handle_timer(now)
        self._send(alarms.resend, call.answer_to, call.transport)
        if alarms.ack_timed_out or alarms.session_expired:
            reason = "ack-timeout" if alarms.ack_timed_out else "session-expired"
            event = None if call.hangup_requested else CallEnded(call.call_id, reason)
            self._send_bye(call, now)
            self._finish(call, now, event)
        elif alarms.refresh_due:
            self._send_refresh(call, dialog, now)

    def _deadline_passed(self, call: _Call, now: float) -> None:
        if call.role == "uas" and call.invite_key is not None:
            self._finish(call, now, CallEnded(call.call_id, "unanswered"), status=480)
        elif call.reinvite_key is not None:
            tx = self._server.get(call.reinvite_key)
            if tx is not None and not tx.final and call.dialog is not None:
                refused = response_to(tx.request, 500, "Server Internal Error")
                self._respond(tx, refused, now)
                self._reap_server(tx.key)
            call.reinvite_key = call.session_terms = None
        elif call.role == "uac" and call.dialog is None:
            entry = self._client.get(call.invite_key) if call.invite_key else None
            if entry is not None and entry.tx.state is TxState.PROCEEDING and not call.cancel_sent:
                self._send_cancel(call, entry, now)
                return
            if entry is not None and not entry.tx.terminated:
                entry.tx.abandon()
                self._reap_client(entry.tx.key)
            event = CallFailed(call.call_id, 408, "Request Timeout")
            self._finish(call, now, None if call.hangup_requested else event)

    # -- sending -----------------------------------------------------------------------------

    def _send(self, data: bytes | None, destination: Address, transport: Transport) -> None:
        if data is not None:
            self._outgoing.append(Outgoing(data, destination, transport))

    def _send_stateless(
        self, response: Response, destination: Address, transport: Transport
    ) -> None:
        self._send(serialise(response), destination, transport)

    def _respond(self, tx: ServerTransaction, response: Response, now: float) -> bytes:
        data = tx.respond(response, now)
        self._send(data, tx.destination, tx.transport)
        return data

    def _start_client(
        self,
        request: Request,
        destination: Address,
        transport: Transport,
        call_id: str,
        purpose: Purpose,
        now: float,
    ) -> TransactionKey | None:
        tx: ClientTransaction
        if request.method == "INVITE":
            tx = ClientInviteTransaction(request, destination, transport, now)
        else:
            tx = ClientNonInviteTransaction(request, destination, transport, now)
        self._send(tx.data, destination, transport)
        if len(self._client) >= self._limits.max_transactions:
            log.warning("[%s] %s sent without a transaction: table full", call_id, request.method)
            return None
        self._client[tx.key] = _ClientEntry(tx, call_id, purpose)
        return tx.key

    def _send_bye(self, call: _Call, now: float) -> None:
        dialog = call.dialog
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return
        host, port, transport = dialog.next_hop(call.transport)
        bye = dialog.create_request("BYE", self._via(transport), extra_headers=self._ua())
        self._start_client(bye, (host, port), transport, call.call_id, "bye", now)

    def _send_cancel(self, call: _Call, entry: _ClientEntry, now: float) -> None:
        """CANCEL for our INVITE (RFC 3261 9.1): same branch, Request-URI, From, To, Route."""
        invite = entry.tx.request
        number, _ = parse_cseq(invite.get("CSeq") or "")
        headers = [("Via", invite.get("Via") or ""), ("Max-Forwards", "70")]
        headers += [("Route", route) for route in invite.get_all("Route")]
        headers += [(name, invite.get(name) or "") for name in ("From", "To", "Call-ID")]
        headers += [("CSeq", f"{number} CANCEL"), *self._ua()]
        cancel = Request("CANCEL", invite.uri, headers)
        self._start_client(
            cancel, entry.tx.destination, entry.tx.transport, call.call_id, "cancel", now
        )
        call.cancel_sent = True
        call.deadline = now + TIMEOUT  # no final response by then: give up (RFC 3261 9.1)

    def _send_refresh(self, call: _Call, dialog: Dialog, now: float) -> None:
        """A session refresh (RFC 4028 7.4): UPDATE if the peer allows it, else a re-INVITE."""
        session = dialog.session
        if session is None:
            return
        if call.invite_key is not None or call.reinvite_key is not None:
            session.refresh_failed(now)  # an INVITE is in progress: try again shortly
            return
        method = "UPDATE" if call.peer_allows_update else "INVITE"
        headers = [
            ("Contact", self._contact(call.transport)),
            ("Allow", ALLOW),
            ("Supported", SUPPORTED),
            *SessionTerms(session.interval, "uac").headers(),
            ("Min-SE", str(self._limits.min_se)),
            *self._ua(),
        ]
        body = call.local_body if method == "INVITE" else b""
        host, port, transport = dialog.next_hop(call.transport)
        request = dialog.create_request(
            method,
            self._via(transport),
            body=body,
            content_type=call.local_body_type,
            extra_headers=headers,
        )
        call.refresh_key = self._start_client(
            request, (host, port), transport, call.call_id, "refresh", now
        )
        session.refresh_started()

    def _ack_and_bye(self, entry: _ClientEntry, response: Response, now: float) -> None:
        """A 2xx we do not want (forked, or for a call given up): ACK it, then BYE it."""
        if len(entry.acks) >= 8:
            return  # enough forks: ignore the rest
        try:
            dialog = Dialog.for_uac(entry.tx.request, response)
            host, port, transport = dialog.next_hop(entry.tx.transport)
        except SipError:
            return
        self._ack(entry, dialog, (host, port, transport))
        bye = dialog.create_request("BYE", self._via(transport), extra_headers=self._ua())
        self._start_client(bye, (host, port), transport, entry.call_id, "bye", now)

    def _ack(self, entry: _ClientEntry, dialog: Dialog, hop: tuple[str, int, Transport]) -> None:
        """ACKs a 2xx (RFC 3261 13.2.2.4), remembering the ACK for the 2xx's retransmissions."""
        number, _ = parse_cseq(entry.tx.request.get("CSeq") or "")
        host, port, transport = hop
        ack = Outgoing(
            serialise(dialog.create_ack(number, self._via(transport))), (host, port), transport
        )
        entry.acks[dialog.remote_tag] = ack
        self._outgoing.append(ack)

    # -- helpers -----------------------------------------------------------------------------

    def _finish(self, call: _Call, now: float, event: Event | None, *, status: int = 487) -> None:
        """Forgets a call, first giving a final response to any INVITE still waiting."""
        reasons = {480: "Temporarily Unavailable", 487: "Request Terminated"}
        tag = call.dialog.local_tag if call.dialog is not None else self._ids()
        for key in (call.invite_key, call.reinvite_key):
            tx = self._server.get(key) if key is not None else None
            if isinstance(tx, ServerInviteTransaction) and not tx.final:
                self._respond(tx, response_to(tx.request, status, reasons[status], to_tag=tag), now)
                self._reap_server(tx.key)
        entry = self._client.get(call.invite_key) if call.invite_key else None
        if entry is not None and entry.tx.state in (TxState.CALLING, TxState.PROCEEDING):
            entry.tx.abandon()
            self._reap_client(entry.tx.key)
        if call.dialog is not None:
            call.dialog.end()
        self._calls.pop(call.call_id, None)
        if event is not None:
            self._events.append(event)

    def _renew_session(
        self, call: _Call, terms: SessionTerms | None, *, we_are_uac: bool, now: float
    ) -> None:
        dialog = call.dialog
        if dialog is None:
            return
        if dialog.session is not None:
            dialog.session.refreshed(now, terms, we_are_uac=we_are_uac)
        elif terms is not None:
            dialog.session = SessionTimer.from_terms(terms, we_are_uac=we_are_uac, now=now)

    def _ok(
        self,
        request: Request,
        to_tag: str | None = None,
        *,
        options: bool = False,
        extra: Iterable[tuple[str, str]] = (),
    ) -> Response:
        headers = list(extra)
        if options:
            headers += [
                ("Allow", ALLOW),
                ("Accept", "application/sdp"),
                ("Supported", SUPPORTED),
            ]
        return response_to(request, 200, "OK", to_tag=to_tag, extra_headers=headers)

    def _via(self, transport: Transport) -> str:
        host = f"{_host(self.local_host)}:{self.local_port}"
        return f"SIP/2.0/{transport.upper()} {host};branch=z9hG4bK{self._ids()};rport"

    def _contact(self, transport: Transport) -> str:
        host = f"{_host(self.local_host)}:{self.local_port}"
        return f"<sip:callroster@{host};transport={transport}>"

    def _ua(self) -> list[tuple[str, str]]:
        return [("User-Agent", self.user_agent)]

    def _reap_server(self, key: TransactionKey) -> None:
        tx = self._server.get(key)
        if tx is not None and tx.terminated:
            del self._server[key]

    def _reap_client(self, key: TransactionKey) -> None:
        entry = self._client.get(key)
        if entry is not None and entry.tx.terminated:
            del self._client[key]
