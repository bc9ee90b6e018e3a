"""The endpoint's UAC side: our INVITE (dialling out), CANCEL, session refreshes, the ACK
for every 2xx, and the responses to all of them (RFC 3261 9.1, 13.2, 14.1; RFC 4028 7).

A 2xx is ACKed by us, not by the transaction (RFC 3261 13.2.2.4): the ACK is remembered per
To tag and sent again for each retransmission of that 2xx. A 2xx from a second (forked)
dialog, or for a call we gave up, is ACKed and then ended with BYE.

A 401 or 407 to our INVITE, when the call has credentials, is answered by sending the INVITE
again with them (RFC 3261 22.2); see :func:`_retry_with_credentials`.
"""

from __future__ import annotations

from collections.abc import Iterable

from callroster.sip.core import (
    ALLOW,
    SUPPORTED,
    Call,
    ClientEntry,
    Core,
    allows,
    host_literal,
    log,
    to_tag,
)
from callroster.sip.dialog import Dialog
from callroster.sip.digest import (
    Challenge,
    Credentials,
    DigestError,
    authorization,
    choose_challenge,
)
from callroster.sip.events import (
    CallAnswered,
    CallEnded,
    CallFailed,
    CallProgressed,
    Outgoing,
)
from callroster.sip.message import Request, Response, SipError, parse_cseq, serialise
from callroster.sip.session_timer import SessionTerms, SessionTimer, negotiate_as_uac
from callroster.sip.transaction import TIMEOUT, Address, Transport, client_key
from callroster.sip.uri import parse_uri

MAX_FORKS = 8  # 2xx from further dialogs of one INVITE are ignored
MAX_AUTH_RETRIES = 3  # INVITEs re-sent with credentials per call (new realms, stale nonces)
_CREDENTIALS = ("authorization", "proxy-authorization")


def dial(
    core: Core,
    uri: str,
    destination: Address,
    transport: Transport,
    now: float,
    *,
    from_user: str,
    display_name: str | None,
    body: bytes,
    content_type: str | None,
    extra_headers: Iterable[tuple[str, str]],
    credentials: Credentials | None = None,
) -> str:
    """Sends an INVITE in a new call; see ``SipEndpoint.dial``.

    Raises:
        ValueError: ``uri`` is not a SIP URI.
    """
    try:
        scheme = parse_uri(uri).scheme
    except SipError as exc:
        raise ValueError(str(exc)) from None
    if scheme == "tel":
        raise ValueError(f"not a SIP URI: {uri!r}")
    if scheme == "sips" and transport != "tls":
        raise ValueError(f"a sips: URI goes over TLS only, not {transport}: {uri!r}")
    secure = scheme == "sips"
    host = host_literal(core.host_toward(destination[0]))
    call_id = f"{core.ids()}@{host}"
    name = "" if display_name is None else '"' + display_name.replace('"', "") + '" '
    headers = [
        ("Via", core.via(transport, destination[0])),
        ("Max-Forwards", "70"),
        ("From", f"{name}<{scheme}:{from_user}@{host}>;tag={core.ids()}"),
        ("To", f"<{uri}>"),
        ("Call-ID", call_id),
        ("CSeq", "1 INVITE"),
        ("Contact", core.contact(transport, destination[0], secure)),
        ("Allow", ALLOW),
        ("Supported", SUPPORTED),
        *core.ua(),
    ]
    if core.limits.session_expires is not None:
        headers.append(("Session-Expires", str(core.limits.session_expires)))
        headers.append(("Min-SE", str(core.limits.min_se)))
    headers.extend(extra_headers)
    if body and content_type is not None:
        headers.append(("Content-Type", content_type))
    invite = Request("INVITE", uri, headers, body)
    call = Call(call_id, "uac", transport, destination, None, secure=secure)
    call.local_body, call.local_body_type = body, content_type
    call.credentials = credentials
    call.deadline = now + core.limits.answer_timeout
    call.invite_key = core.start_client(invite, destination, transport, call_id, "invite", now)
    core.calls[call_id] = call
    return call_id


def on_response(core: Core, response: Response, now: float) -> None:
    """Handles a received response.

    Raises:
        SipError: Malformed (the caller drops it; responses are never answered).
    """
    tag = to_tag(response)  # malformed responses are dropped before anything changes
    key = client_key(response)
    entry = core.client.get(key)
    if entry is None:
        _on_stray_response(core, response)
        return
    try:
        effect = entry.tx.receive_response(response, now)
        core.send(effect.send, entry.tx.destination, entry.tx.transport)
        ack = entry.acks.get(tag or "")
        if ack is not None and 200 <= response.status < 300:
            core.outgoing.append(ack)  # a retransmitted 2xx: the same ACK again
        elif effect.deliver and entry.purpose == "invite":
            _on_invite_response(core, entry, response, now)
        elif effect.deliver and entry.purpose == "refresh":
            _on_refresh_response(core, entry, response, now)
        elif effect.deliver and entry.purpose == "bye" and response.status in (401, 407):
            _retry_bye_with_credentials(core, entry, response, now)
    finally:
        core.reap_client(key)


def _on_stray_response(core: Core, response: Response) -> None:
    """A 2xx to our INVITE after its transaction ended: send the ACK again."""
    number, method = parse_cseq(response.get("CSeq") or "")
    call = core.calls.get(response.get("Call-ID") or "")
    dialog = call.dialog if call is not None else None
    if call is None or dialog is None or method != "INVITE" or response.status >= 300:
        return
    if dialog.last_ack is not None and dialog.last_ack[0] == number:
        if to_tag(response) == dialog.remote_tag:
            host, port, transport = dialog.next_hop(call.transport)
            core.send(dialog.last_ack[1], (host, port), transport)


def _on_invite_response(core: Core, entry: ClientEntry, response: Response, now: float) -> None:
    call = core.calls.get(entry.call_id)
    status = response.status
    if call is None or call.invite_key != entry.tx.key:
        if 200 <= status < 300:  # for a call given up, or a second (forked) 2xx
            _ack_and_bye(core, entry, response, now)
        return
    if status < 200:
        if call.hangup_requested and not call.cancel_sent:
            send_cancel(core, call, entry, now)
        elif status > 100 and not call.hangup_requested:
            core.events.append(CallProgressed(call.call_id, response))
    elif status >= 300:
        if status in (401, 407) and _retry_with_credentials(core, call, entry, response, now):
            return  # the challenged attempt is not reported
        call.invite_key = None
        event = CallFailed(call.call_id, status, response.reason)
        core.finish(call, now, None if call.hangup_requested else event)
    else:
        _on_answered(core, call, entry, response, now)


def _retry_with_credentials(
    core: Core, call: Call, entry: ClientEntry, response: Response, now: float
) -> bool:
    """Sends the INVITE again with credentials for a 401/407 (RFC 3261 22.2), if we may.

    A challenge for a realm (of the callee, or of a proxy) not yet answered in this call is
    answered once. One for a realm already answered means the credentials were refused,
    unless it says ``stale=true`` with a new nonce (they were right, the nonce had expired).
    At most :data:`MAX_AUTH_RETRIES` times per call. The new INVITE has the same Call-ID,
    From, To and body, CSeq + 1 and a new branch, and answers every challenge so far; the
    call follows its transaction.

    Returns:
        Whether the INVITE went out again (else the call fails with the 401/407).
    """
    credentials = call.credentials
    invite = entry.tx.request
    number, _ = parse_cseq(invite.get("CSeq") or "")
    if credentials is None or call.hangup_requested or number > MAX_AUTH_RETRIES:
        return False
    proxy = response.status == 407
    offered = response.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
    try:
        challenge = choose_challenge(offered, proxy)
    except DigestError as exc:
        log.info("[%s] %d with no challenge we can answer: %s", call.call_id, response.status, exc)
        return False
    key = (proxy, challenge.realm)
    previous = call.challenges.get(key)
    if previous is not None and not (challenge.stale and challenge.nonce != previous[0].nonce):
        log.info("[%s] credentials refused for realm %r", call.call_id, challenge.realm)
        return False
    challenges = {**call.challenges, key: (challenge, 0)}
    try:
        retry = _with_credentials(
            core, invite, entry.tx.transport, credentials, challenges, entry.tx.destination[0]
        )
    except DigestError as exc:
        log.warning("[%s] cannot answer the challenge: %s", call.call_id, exc)
        return False
    call.challenges = challenges
    tx = entry.tx
    call.invite_key = core.start_client(
        retry, tx.destination, tx.transport, call.call_id, "invite", now
    )
    log.info("[%s] INVITE again with credentials for realm %r", call.call_id, challenge.realm)
    return True


def _with_credentials(
    core: Core,
    request: Request,
    transport: Transport,
    credentials: Credentials,
    challenges: dict[tuple[bool, str], tuple[Challenge, int]],
    toward: str,
) -> Request:
    """``request`` again (RFC 3261 8.1.3.5): CSeq + 1, a new branch, an answer to each of
    ``challenges``, whose nonce counts it advances.

    Raises:
        DigestError: The credentials cannot go into a header.
    """
    method = request.method
    number, _ = parse_cseq(request.get("CSeq") or "")
    headers = []
    for name, value in request.headers:
        canon = name.lower()
        if canon in ("via", "v"):
            value = core.via(transport, toward)  # ours is the only Via
        elif canon == "cseq":
            value = f"{number + 1} {method}"
        elif canon in _CREDENTIALS:
            continue
        headers.append((name, value))
    for key, (challenge, count) in list(challenges.items()):
        value = authorization(
            challenge, credentials, method, request.uri, core.ids(), count + 1, request.body
        )
        headers.append((challenge.header_name, value))
        challenges[key] = (challenge, count + 1)
    return Request(method, request.uri, headers, request.body)


def _retry_bye_with_credentials(
    core: Core, entry: ClientEntry, response: Response, now: float
) -> None:
    """A trunk challenged our BYE: send it once more with credentials, so that the carrier's
    call (and its billing) ends too. Once only: a second challenge means they are refused."""
    if entry.credentials is None or entry.challenged:
        log.info("[%s] BYE refused with %d", entry.call_id, response.status)
        return
    proxy = response.status == 407
    offered = response.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
    try:
        challenge = choose_challenge(offered, proxy)
        retry = _with_credentials(
            core,
            entry.tx.request,
            entry.tx.transport,
            entry.credentials,
            {(proxy, challenge.realm): (challenge, 0)},
            entry.tx.destination[0],
        )
    except DigestError as exc:
        log.info("[%s] cannot answer the challenge to our BYE: %s", entry.call_id, exc)
        return
    tx = entry.tx
    key = core.start_client(retry, tx.destination, tx.transport, entry.call_id, "bye", now)
    again = core.client.get(key) if key is not None else None
    if again is not None:
        again.credentials, again.challenged = entry.credentials, True
    log.info("[%s] BYE again with credentials for realm %r", entry.call_id, challenge.realm)


def _on_answered(
    core: Core, call: Call, entry: ClientEntry, response: Response, now: float
) -> None:
    call.invite_key = call.deadline = None
    try:
        dialog = Dialog.for_uac(entry.tx.request, response)
        dialog.know_peer(entry.tx.destination[0])
        hop = dialog.next_hop(call.transport)
    except SipError as exc:
        log.info("[%s] unusable 2xx: %s", call.call_id, type(exc).__name__)
        core.finish(call, now, CallFailed(call.call_id, 502, "Bad Gateway"))
        return
    call.dialog = dialog
    _ack(core, entry, dialog, hop)
    terms = negotiate_as_uac(response)
    if terms is not None:
        dialog.session = SessionTimer.from_terms(terms, we_are_uac=True, now=now)
    call.peer_allows_update = allows(response, "UPDATE")
    if call.hangup_requested:
        core.send_bye(call, now)
        core.finish(call, now, None)
    else:
        core.events.append(CallAnswered(call.call_id, response))


def _on_refresh_response(core: Core, entry: ClientEntry, response: Response, now: float) -> None:
    call = core.calls.get(entry.call_id)
    dialog = call.dialog if call is not None else None
    if call is None or dialog is None or response.status < 200:
        return
    if response.status >= 300:
        if call.refresh_key == entry.tx.key:
            client_failed(core, entry, response.status, response.reason, now)
        return
    if entry.tx.request.method == "INVITE":
        _ack(core, entry, dialog, dialog.next_hop(call.transport))
    if call.refresh_key == entry.tx.key:
        call.refresh_key = None
        dialog.refresh_target(response)
        core.renew_session(call, negotiate_as_uac(response), we_are_uac=True, now=now)


def client_failed(core: Core, entry: ClientEntry, status: int, reason: str, now: float) -> None:
    """Our INVITE or refresh failed: timed out (408) or refused."""
    call = core.calls.get(entry.call_id)
    if call is None:
        return
    if entry.purpose == "invite" and call.invite_key == entry.tx.key:
        call.invite_key = None
        event = CallFailed(call.call_id, status, reason)
        core.finish(call, now, None if call.hangup_requested else event)
    elif entry.purpose == "refresh" and call.refresh_key == entry.tx.key:
        call.refresh_key = None
        if status in (408, 481):  # the dialog is gone (RFC 5057)
            if status == 408:
                core.send_bye(call, now)
            core.finish(call, now, CallEnded(call.call_id, "refresh-failed"))
        elif call.dialog is not None and call.dialog.session is not None:
            call.dialog.session.refresh_failed(now)


def send_cancel(core: Core, call: Call, entry: ClientEntry, now: float) -> None:
    """CANCEL for our INVITE (RFC 3261 9.1): same branch, Request-URI, From, To, Route."""
    invite = entry.tx.request
    number, _ = parse_cseq(invite.get("CSeq") or "")
    headers = [("Via", invite.get("Via") or ""), ("Max-Forwards", "70")]
    headers += [("Route", route) for route in invite.get_all("Route")]
    headers += [(name, invite.get(name) or "") for name in ("From", "To", "Call-ID")]
    headers += [("CSeq", f"{number} CANCEL"), *core.ua()]
    cancel = Request("CANCEL", invite.uri, headers)
    tx = entry.tx
    core.start_client(cancel, tx.destination, tx.transport, call.call_id, "cancel", now)
    call.cancel_sent = True
    call.deadline = now + TIMEOUT  # no final response by then: give up (RFC 3261 9.1)


def send_refresh(core: Core, call: Call, dialog: Dialog, now: float) -> None:
    """A session refresh (RFC 4028 7.4): UPDATE if the peer allows it, else a re-INVITE."""
    session = dialog.session
    if session is None:
        return
    if call.invite_key is not None or call.reinvite_key is not None:
        session.refresh_failed(now)  # an INVITE is in progress: try again shortly
        return
    method = "UPDATE" if call.peer_allows_update else "INVITE"
    host, port, transport = dialog.next_hop(call.transport)
    headers = [
        ("Contact", core.contact(call.transport, host, call.secure)),
        ("Allow", ALLOW),
        ("Supported", SUPPORTED),
        *SessionTerms(session.interval, "uac").headers(),
        ("Min-SE", str(core.limits.min_se)),
        *core.ua(),
    ]
    request = dialog.create_request(
        method,
        core.via(transport, host),
        body=call.local_body if method == "INVITE" else b"",
        content_type=call.local_body_type,
        extra_headers=headers,
    )
    call.refresh_key = core.start_client(
        request, (host, port), transport, call.call_id, "refresh", now
    )
    session.refresh_started()


def _ack_and_bye(core: Core, entry: ClientEntry, response: Response, now: float) -> None:
    """A 2xx we do not want (forked, or for a call given up): ACK it, then BYE it."""
    if len(entry.acks) >= MAX_FORKS:
        return
    try:
        dialog = Dialog.for_uac(entry.tx.request, response)
        hop = dialog.next_hop(entry.tx.transport)
    except SipError:
        return
    _ack(core, entry, dialog, hop)
    bye = dialog.create_request("BYE", core.via(hop[2], hop[0]), extra_headers=core.ua())
    core.start_client(bye, hop[:2], hop[2], entry.call_id, "bye", now)


def _ack(core: Core, entry: ClientEntry, dialog: Dialog, hop: tuple[str, int, Transport]) -> None:
    """ACKs a 2xx (RFC 3261 13.2.2.4), remembering the ACK for the 2xx's retransmissions."""
    invite = entry.tx.request
    number, _ = parse_cseq(invite.get("CSeq") or "")
    host, port, transport = hop
    ack = dialog.create_ack(number, core.via(transport, host))
    credentials = [(n, v) for n, v in invite.headers if n.lower() in _CREDENTIALS]
    if credentials:  # the ACK carries the INVITE's credentials (RFC 3261 13.2.2.4)
        ack = Request("ACK", ack.uri, [*ack.headers, *credentials])
        dialog.last_ack = (number, serialise(ack))
    entry.acks[dialog.remote_tag] = Outgoing(serialise(ack), (host, port), transport)
    core.outgoing.append(entry.acks[dialog.remote_tag])
