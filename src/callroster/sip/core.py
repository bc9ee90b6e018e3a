"""What the two halves of the endpoint share: the call and transaction tables, the output
queues, and the moves both make (respond, start a client transaction, send BYE, end a call).

Internal to :class:`~callroster.sip.endpoint.SipEndpoint`; :mod:`callroster.sip.uas` handles
incoming requests and :mod:`callroster.sip.uac` our requests and their responses, both through
one :class:`Core`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from callroster.sip.dialog import Dialog, DialogState
from callroster.sip.digest import Challenge, Credentials
from callroster.sip.events import Event, Outgoing
from callroster.sip.message import Request, Response, SipError, response_to, serialise
from callroster.sip.session_timer import SessionTerms, SessionTimer
from callroster.sip.transaction import (
    Address,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TransactionKey,
    Transport,
    TxState,
)
from callroster.sip.uri import parse_name_addr

log = logging.getLogger("callroster.sip.endpoint")

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"
SUPPORTED = "timer"
Purpose = Literal["invite", "refresh", "bye", "cancel"]
ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction
ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction


class Refused(SipError):
    """A request the endpoint answers with ``code`` and optional extra headers."""

    def __init__(
        self, code: int, reason: str, detail: str = "", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(detail or reason)
        self.code = code
        self.reason = reason
        self.headers = tuple(headers)

    def response_for(self, request: Request, *, to_tag: str | None = None) -> Response:
        """The response, with this refusal's extra headers (Allow, Retry-After, ...)."""
        return response_to(
            request, self.code, self.reason, to_tag=to_tag, extra_headers=self.headers
        )


@dataclass(eq=False)
class Call:
    """Everything the endpoint tracks for one Call-ID."""

    call_id: str
    role: Literal["uac", "uas"]
    transport: Transport
    answer_to: Address  # where our responses (and 2xx retransmissions) go
    dialog: Dialog | None
    # The INVITE came over TLS for a sips: URI: our Contact is a sips: URI too (RFC 3261 8.1.1.8).
    secure: bool = False
    invite_key: TransactionKey | None = None  # initial INVITE, until its final response
    reinvite_key: TransactionKey | None = None  # the peer's re-INVITE, until answered
    update_key: TransactionKey | None = None  # the peer's UPDATE with an offer, until answered
    refresh_key: TransactionKey | None = None  # our session refresh, until it completes
    session_terms: SessionTerms | None = None  # for the 2xx to the pending (re-)INVITE
    deadline: float | None = None  # answer by (UAS); give up waiting (UAC)
    local_body: bytes = b""
    local_body_type: str | None = None
    peer_allows_update: bool = False
    hangup_requested: bool = False
    cancel_sent: bool = False
    credentials: Credentials | None = None  # to answer a 401/407 to our INVITE
    # (from a proxy, realm) -> the challenge answered and its nonce count so far
    challenges: dict[tuple[bool, str], tuple[Challenge, int]] = field(default_factory=dict)


@dataclass(eq=False)
class ClientEntry:
    """A client transaction and what it is for."""

    tx: ClientTransaction
    call_id: str
    purpose: Purpose
    acks: dict[str, Outgoing] = field(default_factory=dict)  # To tag of a 2xx -> its ACK
    # For a BYE of a call that is already forgotten: what answers a 401/407 to it, once.
    credentials: Credentials | None = None
    challenged: bool = False


@dataclass(frozen=True)
class Limits:
    """Bounds and policy; see :class:`~callroster.sip.endpoint.SipEndpoint`."""

    max_calls: int
    max_transactions: int
    min_se: int
    answer_timeout: float
    session_expires: int | None
    # Addresses (trunks, proxies) whose in-dialog requests are taken for any dialog's peer's.
    trusted_peer: Callable[[str], bool] = field(default=lambda host: False)


def to_tag(message: Request | Response) -> str | None:
    """The To tag, after checking that From and To parse (so later code can rely on it).

    Raises:
        BadRequest: From or To is malformed.
    """
    parse_name_addr(message.get("From") or "")
    return parse_name_addr(message.get("To") or "").tag


def allows(message: Request | Response, method: str) -> bool:
    """Whether the message's Allow lists ``method``."""
    return any(value.strip(" \t").upper() == method for value in message.get_all("Allow"))


def host_literal(host: str) -> str:
    """``host`` as it goes into a URI or Via (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


def _family(host: str) -> str:
    """IP6 for an IPv6 literal, else IP4 (a name counts as the default family's)."""
    return "IP6" if ":" in host else "IP4"


class Core:
    """The endpoint's state and the moves shared by its UAS and UAC sides."""

    def __init__(
        self,
        local_host: str,
        local_port: int,
        ids: Callable[[], str],
        user_agent: str,
        limits: Limits,
        other_hosts: Iterable[str] = (),
        tls_port: int | None = None,
    ) -> None:
        self.local_host = local_host
        # Our address in each IP family we listen on (IP4 | IP6), for a peer of that family.
        self.local_hosts = {_family(host): host for host in (*other_hosts, local_host)}
        self.local_port = local_port
        self.tls_port = tls_port  # where we take TLS (None: nowhere; TLS only to trunks)
        self.ids = ids
        self.user_agent = user_agent
        self.limits = limits
        self.calls: dict[str, Call] = {}
        self.server: dict[TransactionKey, ServerTransaction] = {}
        self.client: dict[TransactionKey, ClientEntry] = {}
        self.outgoing: list[Outgoing] = []
        self.events: list[Event] = []
        self.now = 0.0

    # -- sending -----------------------------------------------------------------------------

    def send(self, data: bytes | None, destination: Address, transport: Transport) -> None:
        """Queues bytes for the adapter (nothing for None)."""
        if data is not None:
            self.outgoing.append(Outgoing(data, destination, transport))

    def send_stateless(
        self, response: Response, destination: Address, transport: Transport
    ) -> None:
        """Sends a response outside any transaction (refusals before one exists)."""
        self.send(serialise(response), destination, transport)

    def respond(self, tx: ServerTransaction, response: Response, now: float) -> bytes:
        """Sends a response through its server transaction; returns the wire bytes."""
        data = tx.respond(response, now)
        self.send(data, tx.destination, tx.transport)
        return data

    def start_client(
        self,
        request: Request,
        destination: Address,
        transport: Transport,
        call_id: str,
        purpose: Purpose,
        now: float,
    ) -> TransactionKey | None:
        """Sends a request in a new client transaction.

        Returns:
            The transaction's key, or None when the table is full and the request went out
            once without one.
        """
        tx: ClientTransaction
        if request.method == "INVITE":
            tx = ClientInviteTransaction(request, destination, transport, now)
        else:
            tx = ClientNonInviteTransaction(request, destination, transport, now)
        self.send(tx.data, destination, transport)
        if len(self.client) >= self.limits.max_transactions:
            log.warning("[%s] %s sent without a transaction: table full", call_id, request.method)
            return None
        self.client[tx.key] = ClientEntry(tx, call_id, purpose)
        return tx.key

    def send_bye(self, call: Call, now: float) -> None:
        """BYE in the call's dialog (RFC 3261 15.1.1)."""
        dialog = call.dialog
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return
        host, port, transport = dialog.next_hop(call.transport)
        bye = dialog.create_request("BYE", self.via(transport, host), extra_headers=self.ua())
        key = self.start_client(bye, (host, port), transport, call.call_id, "bye", now)
        entry = self.client.get(key) if key is not None else None
        if entry is not None:  # a trunk may challenge our BYE too (RFC 3261 22.2)
            entry.credentials = call.credentials

    # -- calls -------------------------------------------------------------------------------

    def finish(self, call: Call, now: float, event: Event | None, *, status: int = 487) -> None:
        """Forgets a call, first giving a final response to any INVITE still waiting.

        Args:
            call: The call.
            now: Current time.
            event: Reported to the application, if any.
            status: For a waiting INVITE: 487, or 480 when nobody answered.
        """
        reasons = {480: "Temporarily Unavailable", 487: "Request Terminated"}
        tag = call.dialog.local_tag if call.dialog is not None else self.ids()
        for key in (call.invite_key, call.reinvite_key):
            tx = self.server.get(key) if key is not None else None
            if isinstance(tx, ServerInviteTransaction) and not tx.final:
                final = response_to(tx.request, status, reasons[status], to_tag=tag)
                self.respond(tx, final, now)
                self.reap_server(tx.key)
        update = self.server.get(call.update_key) if call.update_key is not None else None
        if update is not None and not update.final:  # its offer dies with the call
            gone = response_to(update.request, 481, "Call/Transaction Does Not Exist")
            self.respond(update, gone, now)
        entry = self.client.get(call.invite_key) if call.invite_key else None
        if entry is not None and entry.tx.state in (TxState.CALLING, TxState.PROCEEDING):
            entry.tx.abandon()
            self.reap_client(entry.tx.key)
        if call.dialog is not None:
            call.dialog.end()
        self.calls.pop(call.call_id, None)
        if event is not None:
            self.events.append(event)

    def renew_session(
        self, call: Call, terms: SessionTerms | None, *, we_are_uac: bool, now: float
    ) -> None:
        """A refresh (or the initial INVITE) succeeded: restart or start the session timer."""
        dialog = call.dialog
        if dialog is None:
            return
        if dialog.session is not None:
            dialog.session.refreshed(now, terms, we_are_uac=we_are_uac)
        elif terms is not None:
            dialog.session = SessionTimer.from_terms(terms, we_are_uac=we_are_uac, now=now)

    # -- message parts -----------------------------------------------------------------------

    def ok(
        self,
        request: Request,
        tag: str | None = None,
        *,
        options: bool = False,
        extra: Iterable[tuple[str, str]] = (),
    ) -> Response:
        """200 OK to ``request``; with Allow, Accept and Supported for OPTIONS."""
        headers = list(extra)
        if options:
            headers += [("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", SUPPORTED)]
        return response_to(request, 200, "OK", to_tag=tag, extra_headers=headers)

    def host_toward(self, peer: str | None) -> str:
        """Our address for a peer at ``peer``: the one of its IP family when we listen in
        both, else our one address (or name)."""
        if peer is None:
            return self.local_host
        return self.local_hosts.get(_family(peer), self.local_host)

    def port_for(self, transport: Transport) -> int:
        """The port we take ``transport`` on: the TLS port for TLS (when we listen for it),
        else the one port of UDP and TCP."""
        if transport == "tls" and self.tls_port is not None:
            return self.tls_port
        return self.local_port

    def via(self, transport: Transport, toward: str | None = None) -> str:
        """Our Via with a fresh branch, for a request going to host ``toward``."""
        host = f"{host_literal(self.host_toward(toward))}:{self.port_for(transport)}"
        return f"SIP/2.0/{transport.upper()} {host};branch=z9hG4bK{self.ids()};rport"

    def contact(self, transport: Transport, toward: str | None = None, secure: bool = False) -> str:
        """Our Contact, for a peer at host ``toward``; a sips: URI when ``secure`` (a dialog
        begun by a sips: request over TLS)."""
        host = f"{host_literal(self.host_toward(toward))}:{self.port_for(transport)}"
        if secure and transport == "tls":
            return f"<sips:callroster@{host}>"
        return f"<sip:callroster@{host};transport={transport}>"

    def ua(self) -> list[tuple[str, str]]:
        """The User-Agent header of our requests."""
        return [("User-Agent", self.user_agent)]

    def reap_server(self, key: TransactionKey) -> None:
        """Forgets a server transaction once terminated."""
        tx = self.server.get(key)
        if tx is not None and tx.terminated:
            del self.server[key]

    def reap_client(self, key: TransactionKey) -> None:
        """Forgets a client transaction once terminated."""
        entry = self.client.get(key)
        if entry is not None and entry.tx.terminated:
            del self.client[key]
