"""The endpoint's UAS side: requests we receive (RFC 3261 8.2, 9.2, 12.2.2, 13.3, 15.1.2;
RFC 4028 9; RFC 3311), and the application's answers to INVITEs, re-INVITEs and UPDATE offers.

Every received request is checked (From/To parse, Require, the transaction table's bound)
before anything changes; a :class:`~callroster.sip.message.SipError` raised on the way is
answered through the request's server transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from callroster.sip.core import (
    ALLOW,
    SUPPORTED,
    Call,
    Core,
    Refused,
    ServerTransaction,
    allows,
    host_literal,
    log,
    to_tag,
)
from callroster.sip.dialog import Dialog, DialogState
from callroster.sip.events import (
    CallAcknowledged,
    CallCancelled,
    CallEnded,
    IncomingCall,
    InfoReceived,
    ReInvite,
)
from callroster.sip.message import (
    Request,
    SipError,
    _canon,
    _split_top,
    parse_cseq,
    response_to,
    via_params,
    via_sent_by,
)
from callroster.sip.session_timer import negotiate_as_uas
from callroster.sip.transaction import (
    TIMEOUT,
    Address,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    Transport,
    response_destination,
    server_key,
)

OUT_OF_DIALOG_481 = frozenset({"BYE", "INFO", "UPDATE", "PRACK"})
DOES_NOT_EXIST = (481, "Call/Transaction Does Not Exist")


def stamp_via(request: Request, source: Address) -> Request:
    """Adds ``received`` (and fills ``rport``) on the top Via (RFC 3261 18.2.1, RFC 3581).

    Raises:
        BadRequest: The top Via does not parse.
    """
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


def on_request(
    core: Core, request: Request, source: Address, transport: Transport, now: float
) -> None:
    """Handles a received request: a retransmission, an ACK, or a new server transaction.

    Raises:
        SipError: Refused before a transaction existed (the caller answers statelessly).
    """
    to_tag(request)  # a malformed From or To is answered 400 before anything changes
    if request.method != "ACK":
        request = stamp_via(request, source)
    key = server_key(request)
    tx = core.server.get(key)
    if tx is not None:
        try:
            effect = tx.receive_request(request, now)
            core.send(effect.send, tx.destination, tx.transport)
            if effect.deliver:
                on_ack(core, request, now)
        finally:
            core.reap_server(key)
        return
    if request.method == "ACK":
        on_ack(core, request, now)
        return
    if len(core.server) >= core.limits.max_transactions:
        raise Refused(503, "Service Unavailable", headers=[("Retry-After", "5")])
    destination = response_destination(request, source, transport)
    if request.method == "INVITE":
        tx = ServerInviteTransaction(request, destination, transport, key)
    else:
        tx = ServerNonInviteTransaction(request, destination, transport, key)
    core.server[key] = tx
    try:
        _on_new_request(core, tx, request, source, now)
    except SipError as exc:
        log.info(
            "sip: refused %s from %s: %d %s", request.method, source, exc.code, type(exc).__name__
        )
        if not tx.final:
            core.respond(tx, exc.response_for(request, to_tag=core.ids()), now)
    finally:
        core.reap_server(key)


def _on_new_request(
    core: Core, tx: ServerTransaction, request: Request, source: Address, now: float
) -> None:
    method = request.method
    unsupported = [tag for tag in request.get_all("Require") if tag.lower() != "timer"]
    if unsupported and method != "CANCEL":
        raise Refused(420, "Bad Extension", headers=[("Unsupported", ", ".join(unsupported))])
    if method == "CANCEL":
        _on_cancel(core, tx, request, now)
    elif to_tag(request) is not None:
        _on_in_dialog(core, tx, request, source, now)
    elif method == "INVITE" and isinstance(tx, ServerInviteTransaction):
        _on_invite(core, tx, request, source, now)
    elif method == "OPTIONS":
        core.respond(tx, core.ok(request, core.ids(), options=True), now)
    elif method in OUT_OF_DIALOG_481:
        raise Refused(*DOES_NOT_EXIST)
    else:
        raise Refused(405, "Method Not Allowed", headers=[("Allow", ALLOW)])


def _on_invite(
    core: Core, tx: ServerInviteTransaction, request: Request, source: Address, now: float
) -> None:
    call_id = request.get("Call-ID") or ""
    if call_id in core.calls:
        raise Refused(482, "Loop Detected", "a second INVITE for a known Call-ID")
    if len(core.calls) >= core.limits.max_calls:
        raise Refused(503, "Service Unavailable", headers=[("Retry-After", "30")])
    terms = negotiate_as_uas(request, core.limits.min_se)
    dialog = Dialog.for_uas(request, core.ids())
    dialog.know_peer(source[0])
    dialog.heard_from(request, source, tx.transport)
    call = Call(call_id, "uas", tx.transport, tx.destination, dialog, invite_key=tx.key)
    call.secure = tx.transport == "tls" and request.uri[:5].lower() == "sips:"
    call.session_terms = terms
    call.deadline = now + core.limits.answer_timeout
    call.peer_allows_update = allows(request, "UPDATE")
    core.calls[call_id] = call
    core.respond(tx, response_to(request, 100, "Trying"), now)
    core.events.append(IncomingCall(call_id, request, source, tx.transport))


def _on_in_dialog(
    core: Core, tx: ServerTransaction, request: Request, source: Address, now: float
) -> None:
    call = core.calls.get(request.get("Call-ID") or "")
    dialog = call.dialog if call is not None else None
    if call is None or dialog is None or dialog.state is DialogState.TERMINATED:
        raise Refused(*DOES_NOT_EXIST)
    if not dialog.matches(request):
        raise Refused(*DOES_NOT_EXIST)
    if not dialog.from_peer(source[0]) and not core.limits.trusted_peer(source[0]):
        log.info(
            "[%s] %s from an address that is not the call's peer", call.call_id, request.method
        )
        warning = f'399 {host_literal(core.local_host)} "Not from this call\'s peer"'
        raise Refused(403, "Forbidden", headers=[("Warning", warning)])
    dialog.check_remote_cseq(request)
    dialog.heard_from(request, source, tx.transport)
    method = request.method
    if method == "BYE":
        core.respond(tx, core.ok(request), now)
        core.finish(call, now, CallEnded(call.call_id, "bye"))
    elif method == "INFO":
        core.respond(tx, core.ok(request), now)
        core.events.append(InfoReceived(call.call_id, request))
    elif method == "OPTIONS":
        core.respond(tx, core.ok(request, options=True), now)
    elif method == "INVITE" and isinstance(tx, ServerInviteTransaction):
        _on_reinvite(core, call, tx, request, now)
    elif method == "UPDATE":
        _on_update(core, call, dialog, tx, request, now)
    else:
        raise Refused(405, "Method Not Allowed", headers=[("Allow", ALLOW)])


def _on_reinvite(
    core: Core, call: Call, tx: ServerInviteTransaction, request: Request, now: float
) -> None:
    if call.invite_key is not None or call.reinvite_key is not None:
        raise Refused(500, "Server Internal Error", headers=[("Retry-After", "5")])  # 14.2
    if call.refresh_key is not None or (call.dialog and call.dialog.awaiting_ack):
        raise Refused(491, "Request Pending")  # our refresh or 2xx in progress (RFC 3261 14.2)
    call.session_terms = negotiate_as_uas(request, core.limits.min_se)
    call.reinvite_key = tx.key
    call.deadline = now + TIMEOUT
    core.respond(tx, response_to(request, 100, "Trying"), now)
    core.events.append(ReInvite(call.call_id, request))


def _on_update(
    core: Core, call: Call, dialog: Dialog, tx: ServerTransaction, request: Request, now: float
) -> None:
    """UPDATE (RFC 3311): without a body, a session refresh (RFC 4028 9), answered here; with
    an offer, a change of media, which the application answers as it does a re-INVITE's
    (``ReInvite``, then :func:`answer`), the answer in the 200."""
    if call.refresh_key is not None or call.update_key is not None:
        raise Refused(491, "Request Pending")
    if request.body:
        if call.invite_key is not None or call.reinvite_key is not None or dialog.awaiting_ack:
            # An offer of ours (or theirs) is still open (RFC 3311 5.2).
            raise Refused(491, "Request Pending")
        call.session_terms = negotiate_as_uas(request, core.limits.min_se)
        call.update_key = tx.key
        call.deadline = now + TIMEOUT
        core.events.append(ReInvite(call.call_id, request))
        return
    terms = negotiate_as_uas(request, core.limits.min_se)
    headers = [
        ("Contact", core.contact(call.transport, call.answer_to[0], call.secure)),
        ("Supported", SUPPORTED),
    ]
    if terms is not None:
        headers += terms.headers()
    core.respond(tx, core.ok(request, extra=headers), now)
    dialog.refresh_target(request)
    core.renew_session(call, terms, we_are_uac=False, now=now)


def _on_cancel(core: Core, tx: ServerTransaction, cancel: Request, now: float) -> None:
    """CANCEL (RFC 3261 9.2): 200 for the CANCEL, 487 for the INVITE if still pending."""
    invite_key = server_key(cancel, method="INVITE")
    invite_tx = core.server.get(invite_key)
    if not isinstance(invite_tx, ServerInviteTransaction):
        raise Refused(*DOES_NOT_EXIST)
    call = core.calls.get(cancel.get("Call-ID") or "")
    tag = call.dialog.local_tag if call is not None and call.dialog is not None else None
    core.respond(tx, core.ok(cancel, tag or core.ids()), now)
    if invite_tx.final:
        return
    if call is not None and call.invite_key == invite_key:
        core.finish(call, now, CallCancelled(call.call_id))
        return
    terminated = response_to(invite_tx.request, 487, "Request Terminated", to_tag=tag)
    core.respond(invite_tx, terminated, now)
    core.reap_server(invite_key)
    if call is not None and call.reinvite_key == invite_key:
        call.reinvite_key = call.session_terms = call.deadline = None


def on_ack(core: Core, ack: Request, now: float) -> None:
    """An ACK for a 2xx of ours (ACKs for non-2xx end in their INVITE transaction)."""
    call = core.calls.get(ack.get("Call-ID") or "")
    dialog = call.dialog if call is not None else None
    if call is None or dialog is None or dialog.state is DialogState.EARLY:
        return
    if not dialog.matches(ack):
        return
    if dialog.acknowledged(ack):
        core.events.append(CallAcknowledged(call.call_id, ack.body))
        if call.hangup_requested:
            core.send_bye(call, now)
            core.finish(call, now, None)


def answer(
    core: Core,
    call_id: str,
    status: int,
    reason: str,
    *,
    body: bytes,
    content_type: str | None,
    extra_headers: Iterable[tuple[str, str]],
    now: float,
) -> None:
    """Answers a call's pending INVITE, re-INVITE or UPDATE; see ``SipEndpoint.answer``."""
    call = core.calls.get(call_id)
    if call is not None and call.update_key is not None and call.dialog is not None:
        given = _Answer(status, reason, body, content_type, tuple(extra_headers))
        _answer_update(core, call, call.dialog, given, now)
        return
    key = None if call is None else call.reinvite_key or call.invite_key
    tx = core.server.get(key) if key is not None else None
    if call is None or call.dialog is None or not isinstance(tx, ServerInviteTransaction):
        log.info("[%s] answer %s ignored: no INVITE waiting", call_id, status)
        return
    dialog, initial = call.dialog, key == call.invite_key
    headers = list(extra_headers)
    if 101 <= status < 300:
        headers.append(("Contact", core.contact(call.transport, call.answer_to[0], call.secure)))
    if 200 <= status < 300:
        headers += [("Allow", ALLOW), ("Supported", SUPPORTED)]
        headers += call.session_terms.headers() if call.session_terms else []
    response = response_to(
        tx.request,
        status,
        reason,
        to_tag=None if status == 100 else dialog.local_tag,
        extra_headers=headers,
        body=body,
        content_type=content_type,
    )
    data = core.respond(tx, response, now)
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
            core.finish(call, now, None)
        return
    call.answer_to = tx.destination
    number, _ = parse_cseq(tx.request.get("CSeq") or "")
    dialog.answered(number, data, now, reliable=tx.reliable)
    if body:
        call.local_body, call.local_body_type = body, content_type
    if not initial:
        dialog.refresh_target(tx.request)
    core.renew_session(call, terms, we_are_uac=False, now=now)


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    body: bytes
    content_type: str | None
    extra_headers: tuple[tuple[str, str], ...]


def _answer_update(core: Core, call: Call, dialog: Dialog, answer: _Answer, now: float) -> None:
    """The answer to an UPDATE's offer: a 2xx carries our answer (and renews the session),
    anything else refuses the offer and leaves the session as it was."""
    tx = core.server.get(call.update_key) if call.update_key is not None else None
    call.update_key = call.deadline = None
    terms, call.session_terms = call.session_terms, None
    status, body, content_type = answer.status, answer.body, answer.content_type
    if tx is None or tx.final or status < 200:
        return
    headers = list(answer.extra_headers)
    if status < 300:
        headers += [
            ("Contact", core.contact(call.transport, call.answer_to[0], call.secure)),
            ("Supported", SUPPORTED),
        ]
        headers += terms.headers() if terms is not None else []
    response = response_to(
        tx.request,
        status,
        answer.reason,
        to_tag=dialog.local_tag,
        extra_headers=headers,
        body=body if status < 300 else b"",
        content_type=content_type if status < 300 else None,
    )
    core.respond(tx, response, now)
    if status < 300:
        if body:
            call.local_body, call.local_body_type = body, content_type
        dialog.refresh_target(tx.request)
        core.renew_session(call, terms, we_are_uac=False, now=now)
