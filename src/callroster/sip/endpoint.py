"""The SIP endpoint: the one pure object the asyncio adapter drives.

Bytes and ``now`` go in (:meth:`SipEndpoint.receive`, :meth:`SipEndpoint.handle_timer`);
datagrams, events and the next timer come out (:meth:`~SipEndpoint.datagrams`,
:meth:`~SipEndpoint.events`, :meth:`~SipEndpoint.next_timer`). The adapter's loop, as in
aioquic: receive, hand the events to the application, send the datagrams, re-arm one timer.
The application answers events with commands (:meth:`~SipEndpoint.answer`,
:meth:`~SipEndpoint.hangup`, :meth:`~SipEndpoint.dial`), after which the adapter drains again.

What the endpoint does on its own: 100 Trying for every INVITE; 200 to OPTIONS, INFO, BYE and
CANCEL (plus 487 to the cancelled INVITE); 481 outside a dialog; 405 for other methods; 420
for an unknown Require; 422 for a short Session-Expires; 482 for a second INVITE with a known
Call-ID; 500 for an out-of-order CSeq; 503 beyond ``max_calls``; ACKs for 2xx (again for every
2xx retransmission); BYE when our 2xx is never acknowledged or the session timer runs out;
session refreshes when we are the refresher; 480 when the application does not answer.

The work is split by side: :mod:`~callroster.sip.uas` (requests we receive, answers),
:mod:`~callroster.sip.uac` (our requests, responses we receive), both on the shared state of
:mod:`~callroster.sip.core`. Calls are keyed by their SIP Call-ID.

Exceptions:
    EndpointError: base of what the commands raise.
    CallLimitReached: :meth:`~SipEndpoint.dial` with ``max_calls`` calls in progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from callroster.sip import uac, uas
from callroster.sip.core import Call, Core, Limits, log
from callroster.sip.dialog import KEEPALIVE_DATA, DialogState
from callroster.sip.digest import Credentials
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
    parse_message,
    parse_stream,
    response_to,
)
from callroster.sip.session_timer import MIN_SE
from callroster.sip.snapshot import DialogSnapshot, orphan_bye
from callroster.sip.transaction import (
    STREAMS,
    Address,
    Transport,
    TxState,
    response_destination,
)

__all__ = [
    "MAX_STREAMS",
    "CallAcknowledged",
    "CallAnswered",
    "CallCancelled",
    "CallEnded",
    "CallFailed",
    "CallLimitReached",
    "CallProgressed",
    "Credentials",
    "EndpointError",
    "Event",
    "IncomingCall",
    "InfoReceived",
    "Outgoing",
    "ReInvite",
    "SipEndpoint",
]

MAX_STREAMS = 1024  # TCP receive buffers kept; the oldest is dropped beyond this


class EndpointError(Exception):
    """A command the endpoint cannot carry out."""


class CallLimitReached(EndpointError):
    """``max_calls`` calls are in progress."""


class SipEndpoint:
    """A SIP user agent (UAS and UAC) over UDP, TCP and TLS (as a stream: the adapter
    encrypts), without I/O.

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
        trusted_peer: Whether an address (a trunk's, a proxy's) may send in-dialog requests
            for any call; other in-dialog requests are taken only from the call's peer
            (:meth:`~callroster.sip.dialog.Dialog.from_peer`), else 403.
        tls_port: Port we take SIP over TLS on (None: none; TLS only to trunks), for our
            Via and Contact on TLS.
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
        other_hosts: Iterable[str] = (),
        trusted_peer: Callable[[str], bool] = lambda host: False,
        tls_port: int | None = None,
    ) -> None:
        limits = Limits(
            max_calls, max_transactions, min_se, answer_timeout, session_expires, trusted_peer
        )
        self._core = Core(local_host, local_port, ids, user_agent, limits, other_hosts, tls_port)
        # next_timer() scans every transaction and call; the adapter asks after every message
        # and every 20 ms tick. Deadlines change only inside the methods below that take the
        # state forward, so each of them marks the answer stale and it is computed once.
        self._next_timer: float | None = None
        self._next_timer_stale = True
        self._streams: dict[Address, bytearray] = {}

    @property
    def local_host(self) -> str:
        """Address or name we are reached at."""
        return self._core.local_host

    @property
    def local_port(self) -> int:
        """Port we listen on."""
        return self._core.local_port

    # -- the adapter's side ------------------------------------------------------------------

    def receive(self, data: bytes, source: Address, transport: Transport, now: float) -> None:
        """Takes bytes received from the network. Never raises on bad input.

        Malformed requests are answered 400 when they can be (and dropped otherwise);
        malformed responses, and responses matching no transaction, are dropped.

        Args:
            data: A UDP datagram, or the next chunk of a TCP or TLS stream (decrypted) from
                ``source`` (framed here by Content-Length; a partial message waits for the
                next chunk).
            source: ``(host, port)`` it came from.
            transport: ``"udp"``, ``"tcp"`` or ``"tls"``.
            now: Current time in seconds (any monotonic clock).
        """
        self._next_timer_stale = True
        self._core.now = now
        if transport in STREAMS:
            messages = self._frame(data, source, transport)
        elif not data.strip(b"\r\n"):
            return  # keep-alive
        else:
            try:
                messages = [parse_message(data)]
            except SipError as exc:
                self._refuse(exc, exc.request, source, transport)
                return
        for message in messages:
            try:
                if isinstance(message, Response):
                    uac.on_response(self._core, message, now)
                else:
                    uas.on_request(self._core, message, source, transport, now)
            except SipError as exc:
                request = message if isinstance(message, Request) else None
                self._refuse(exc, request, source, transport)
            except ValueError as exc:  # a value we could not put into a message of our own
                log.warning("sip: dropped a message from %s: %s", source, type(exc).__name__)

    def connection_closed(self, source: Address) -> None:
        """Forgets the TCP or TLS receive buffer of a closed connection."""
        self._streams.pop(source, None)

    def datagrams(self) -> list[Outgoing]:
        """Takes the messages to send, oldest first."""
        outgoing, self._core.outgoing = self._core.outgoing, []
        return outgoing

    def events(self) -> list[Event]:
        """Takes the events for the application, oldest first."""
        events, self._core.events = self._core.events, []
        return events

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        if self._next_timer_stale:
            self._next_timer = self._scan_timers()
            self._next_timer_stale = False
        return self._next_timer

    def _scan_timers(self) -> float | None:
        core = self._core
        deadlines = [tx.next_timer() for tx in core.server.values()]
        deadlines += [entry.tx.next_timer() for entry in core.client.values()]
        for call in core.calls.values():
            deadlines.append(call.deadline)
            if call.dialog is not None:
                deadlines.append(call.dialog.next_timer())
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timer(self, now: float) -> None:
        """Fires every timer due at ``now``: retransmissions, timeouts, session timers."""
        self._next_timer_stale = True
        core = self._core
        core.now = now
        for key, tx in list(core.server.items()):
            deadline = tx.next_timer()
            if deadline is not None and deadline <= now:
                core.send(tx.handle_timer(now).send, tx.destination, tx.transport)
                core.reap_server(key)
        for key, entry in list(core.client.items()):
            deadline = entry.tx.next_timer()
            if deadline is not None and deadline <= now:
                effect = entry.tx.handle_timer(now)
                core.send(effect.send, entry.tx.destination, entry.tx.transport)
                if effect.timed_out:
                    uac.client_failed(core, entry, 408, "Request Timeout", now)
                core.reap_client(key)
        for call in list(core.calls.values()):
            if core.calls.get(call.call_id) is call:
                self._call_timers(call, now)

    @property
    def counts(self) -> Mapping[str, int]:
        """How much state is held: calls, transactions and TCP buffers."""
        return {
            "calls": len(self._core.calls),
            "server_transactions": len(self._core.server),
            "client_transactions": len(self._core.client),
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
            ValueError: ``status`` outside 100-699, or an invalid header.
        """
        self._next_timer_stale = True
        if not 100 <= status <= 699:
            raise ValueError(f"status {status} outside 100-699")
        now = self._core.now if now is None else now
        self._core.now = now
        uas.answer(
            self._core,
            call_id,
            status,
            reason,
            body=body,
            content_type=content_type,
            extra_headers=extra_headers,
            now=now,
        )

    def hangup(self, call_id: str, now: float) -> None:
        """Ends a call: BYE once established, 487 to an INVITE not yet answered, CANCEL for
        our own INVITE still ringing. Unknown or finished calls are ignored.

        Args:
            call_id: The call's Call-ID.
            now: Current time.
        """
        self._next_timer_stale = True
        core = self._core
        core.now = now
        call = core.calls.get(call_id)
        if call is None:
            return
        dialog = call.dialog
        if call.role == "uas" and call.invite_key is not None:
            core.finish(call, now, None)
        elif dialog is not None and dialog.state is DialogState.ANSWERED:
            call.hangup_requested = True  # RFC 3261 15: no BYE before the ACK (or its timeout)
        elif dialog is not None:
            core.send_bye(call, now)
            core.finish(call, now, None)
        else:
            call.hangup_requested = True
            entry = core.client.get(call.invite_key) if call.invite_key else None
            if entry is None:
                core.finish(call, now, None)
            elif entry.tx.state is TxState.PROCEEDING and not call.cancel_sent:
                uac.send_cancel(core, call, entry, now)
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
        credentials: Credentials | None = None,
    ) -> str:
        """Sends an INVITE (the bridge dialling out).

        With ``credentials``, a 401 or 407 is answered by sending the INVITE again with
        digest credentials, in the same call (the Call-ID does not change) and unreported;
        the call fails with the 401/407 when the credentials are refused.

        Args:
            uri: Request-URI and To, e.g. ``sip:+442071234567@carrier.example``.
            destination: Next hop ``(host, port)``.
            transport: ``"udp"``, ``"tcp"`` or ``"tls"``.
            now: Current time.
            from_user: User part of our From URI.
            display_name: Display name of From.
            body: SDP offer.
            content_type: Its Content-Type.
            extra_headers: More headers.
            credentials: Username and password for the trunk's digest challenges.

        Returns:
            The new call's Call-ID, which later events carry.

        Raises:
            CallLimitReached: ``max_calls`` calls in progress.
            ValueError: ``uri`` is not a SIP URI.
        """
        self._next_timer_stale = True
        self._core.now = now
        if len(self._core.calls) >= self._core.limits.max_calls:
            raise CallLimitReached(f"{len(self._core.calls)} calls in progress")
        return uac.dial(
            self._core,
            uri,
            destination,
            transport,
            now,
            from_user=from_user,
            display_name=display_name,
            body=body,
            content_type=content_type,
            extra_headers=extra_headers,
            credentials=credentials,
        )

    def dialog_snapshot(self, call_id: str) -> DialogSnapshot | None:
        """The dialog of a call, written down so that a later process can end it
        (:mod:`callroster.sip.snapshot`); None without a live dialog."""
        call = self._core.calls.get(call_id)
        dialog = call.dialog if call is not None else None
        if call is None or dialog is None or dialog.state is DialogState.TERMINATED:
            return None
        return DialogSnapshot.of(dialog, call.transport)

    def end_orphan(self, snapshot: DialogSnapshot, now: float) -> None:
        """Sends BYE in a dialog this endpoint does not hold: one a process before it left
        open (killed with its calls up). The BYE is retransmitted as any other; its answer
        is reported to nobody.

        Args:
            snapshot: the dialog, as :meth:`dialog_snapshot` gave it then.
            now: Current time.
        """
        self._next_timer_stale = True
        core = self._core
        core.now = now
        host, port = snapshot.destination
        transport = snapshot.transport
        bye = orphan_bye(snapshot, core.via(transport, host), core.ua())
        core.start_client(bye, (host, port), transport, snapshot.call_id, "bye", now)

    # -- internals ---------------------------------------------------------------------------

    def _frame(
        self, data: bytes, source: Address, transport: Transport
    ) -> list[Request | Response]:
        """Complete messages from a TCP or TLS stream; the rest waits in the source's
        buffer."""
        buffer = self._streams.pop(source, None) or bytearray()
        buffer += data
        messages: list[Request | Response] = []
        while True:
            before = len(buffer)
            try:
                batch = parse_stream(buffer)
            except SipError as exc:
                self._refuse(exc, exc.request, source, transport)
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

    def _refuse(
        self, exc: SipError, request: Request | None, source: Address, transport: Transport
    ) -> None:
        """Answers a request refused outside any transaction; drops anything else."""
        log.info("sip: refused a message from %s: %d %s", source, exc.code, type(exc).__name__)
        if request is None or request.method == "ACK" or not request.get("Via"):
            return
        response = exc.response_for(request, to_tag=self._core.ids())
        destination = response_destination(request, source, transport)
        self._core.send_stateless(response, destination, transport)

    def _call_timers(self, call: Call, now: float) -> None:
        core = self._core
        if call.deadline is not None and now >= call.deadline:
            call.deadline = None
            self._deadline_passed(call, now)
            if core.calls.get(call.call_id) is not call:
                return
        dialog = call.dialog
        deadline = dialog.next_timer() if dialog is not None else None
        if dialog is None or deadline is None or deadline > now:
            return
        alarms = dialog.handle_timer(now)
        core.send(alarms.resend, call.answer_to, call.transport)
        if alarms.keepalive is not None and dialog.state is not DialogState.TERMINATED:
            host, port, transport = alarms.keepalive
            core.send(KEEPALIVE_DATA, (host, port), transport)
        if alarms.ack_timed_out or alarms.session_expired:
            reason = "ack-timeout" if alarms.ack_timed_out else "session-expired"
            event = None if call.hangup_requested else CallEnded(call.call_id, reason)
            core.send_bye(call, now)
            core.finish(call, now, event)
        elif alarms.refresh_due:
            uac.send_refresh(core, call, dialog, now)

    def _deadline_passed(self, call: Call, now: float) -> None:
        """Nobody answered in time: our 480 (UAS), our CANCEL or giving up (UAC)."""
        core = self._core
        if call.role == "uas" and call.invite_key is not None:
            core.finish(call, now, CallEnded(call.call_id, "unanswered"), status=480)
        elif call.reinvite_key is not None or call.update_key is not None:
            key = call.reinvite_key or call.update_key
            tx = core.server.get(key) if key is not None else None
            if tx is not None and not tx.final:
                core.respond(tx, response_to(tx.request, 500, "Server Internal Error"), now)
                core.reap_server(tx.key)
            call.reinvite_key = call.update_key = call.session_terms = None
        elif call.role == "uac" and call.dialog is None:
            entry = core.client.get(call.invite_key) if call.invite_key else None
            if entry is not None and entry.tx.state is TxState.PROCEEDING and not call.cancel_sent:
                uac.send_cancel(core, call, entry, now)
                return
            if entry is not None and not entry.tx.terminated:
                entry.tx.abandon()
                core.reap_client(entry.tx.key)
            event = CallFailed(call.call_id, 408, "Request Timeout")
            core.finish(call, now, None if call.hangup_requested else event)
