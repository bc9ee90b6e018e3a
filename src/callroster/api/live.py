"""Live Call Status over HTTP: the roster of a conference in progress, and the host's
controls on it. Controls go to the bridge as commands (``BridgeService.control``); the
roster answers from conference events. Every control is audit-logged.

These routes are ``async`` so that commands reach the bridge on its own event loop; store
calls go to a thread so the media clock never waits for the database.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Request,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from callroster.api.auth import (
    SESSION_COOKIE,
    Caller,
    authenticated,
    bearer_token,
    caller_for_credential,
    store_of,
    websocket_session,
)
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.deps import bridge_of
from callroster.api.names import OptionalPersonName
from callroster.api.routes import authorised_conference
from callroster.conference.conference import ConferenceError
from callroster.io.roster_feed import BATCH_LIMIT, RosterFeed, batch_text, encode
from callroster.roster.roster import ConferenceRoster, Roster, without_numbers
from callroster.roster.watch_tickets import PREFIX as TICKET_PREFIX
from callroster.roster.watch_tickets import TicketRefused, TooManyTickets, WatchTickets
from callroster.store.conferences import ConferenceView
from callroster.store.store import Store

router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]


class LegOut(BaseModel):
    id: str
    name: str | None
    name_source: str | None
    number: str | None
    joined_via: str
    role: str
    status: str
    muted: bool
    talking: bool
    joined_at: str
    left_at: str | None
    # hangup, dropped, failed or locked; for a phoned guest who never joined: busy,
    # no_answer, declined, failed, cancelled, or certificate_refused (a TLS trunk's
    # certificate failed verification: nothing was sent). None while on the call.
    left_reason: str | None = None
    # cannot_send, media_from_elsewhere or nothing_received while the leg's audio has a
    # lasting problem; None otherwise.
    media_problem: str | None = None
    # False when the number is only what the caller claimed (From, or P-Asserted-Identity
    # from an untrusted peer); the page marks it "unverified".
    number_verified: bool = False
    # Signalling and media both encrypted: SIP over TLS with SRTP, or a browser's DTLS-SRTP
    # with its offer sent over HTTPS. The page shows a padlock.
    encrypted: bool = False
    # A link to the participant's public profile (https), only while they consent to show
    # it; None otherwise, and once they have left.
    profile_url: str | None = None


class RosterOut(BaseModel):
    conference_id: str
    seq: int
    locked: bool
    recording: bool
    # Everyone on the call now is encrypted (False for an empty call).
    all_encrypted: bool = False
    legs: list[LegOut]


def _roster(request: Request) -> Roster:
    roster = request.app.state.roster
    assert isinstance(roster, Roster)
    return roster


async def _authorise(request: Request, caller: Caller, conference_id: str) -> ConferenceView:
    """The conference, for a caller who may control its legs (``legs:control``)."""
    return await asyncio.to_thread(
        authorised_conference, store_of(request), caller, conference_id, "legs:control"
    )


def _snapshot(request: Request, conference_id: str) -> dict[str, Any]:
    """The roster of a conference; empty when it is not in progress on this node."""
    roster = _roster(request).get(conference_id) or ConferenceRoster(conference_id)
    snapshot = roster.snapshot()
    snapshot.pop("type")
    return snapshot


def _watch_allowed(store: Store, caller: Caller, conference_id: str) -> bool:
    """May this caller watch the roster? Returns whether numbers must be hidden from them.

    The host, delegates and administrators always see numbers; a guest with the link sees
    them only if the account shows numbers to guests (off unless an administrator turns it on).

    Raises:
        HTTPException: 404 for another conference's link or another account, 403 for a user
            of the account who is not the host, a delegate or an administrator.
    """
    if caller.guest_of is None:
        authorised_conference(store, caller, conference_id)
        return False
    if caller.guest_of != conference_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference")
    account = store.accounts.get_account(caller.actor, caller.principal.account_id)
    return not account.settings.get("show_numbers_to_guests", False)


def _as_guest(message: dict[str, Any], hide_numbers: bool) -> dict[str, Any]:
    return without_numbers(message) if hide_numbers else message


@router.get("/conferences/{conference_id}/legs", response_model=RosterOut)
async def legs(conference_id: str, caller: CallerDep, request: Request) -> RosterOut:
    """Who is on the call now (and who was, with ``status: left``), by name where known.
    Guests may read it with the conference link as their bearer credential.

    To follow it live, open the WebSocket ``/api/v1/conferences/{conference_id}/live`` (the
    same credential in ``Authorization``, or from a browser ``?ticket=`` from
    ``POST .../live/tickets``). Every WebSocket message is a JSON array
    of roster messages, oldest first: ``[snapshot]`` on connect, or with ``?since=N`` the
    changes after N; then one or more changes per message, each with its ``seq`` (several
    when the watcher had fallen behind). A watcher 1,000 changes behind is closed with code
    4008 and should reconnect with ``?since=`` its last ``seq``."""
    store = store_of(request)
    hide = await asyncio.to_thread(_watch_allowed, store, caller, conference_id)
    # The roster carries names and numbers: reading it is audit-logged like any other read.
    await asyncio.to_thread(
        store.audit.log,
        caller.actor,
        "roster.read",
        f"conference:{conference_id}",
        caller.principal.account_id,
    )
    return RosterOut.model_validate(_as_guest(_snapshot(request, conference_id), hide))


async def _control(
    request: Request, caller: Caller, conference_id: str, action: str, leg_id: str | None = None
) -> None:
    view = await _authorise(request, caller, conference_id)
    roster = _roster(request).get(conference_id)
    if leg_id is not None and (roster is None or leg_id not in roster.legs):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such leg on this call")
    try:
        bridge_of(request).control(conference_id, action, leg_id)
    except KeyError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "this conference is not in progress"
        ) from None
    except ConferenceError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    subject = f"leg:{leg_id}" if leg_id else f"conference:{conference_id}"
    await asyncio.to_thread(
        store_of(request).audit.log, caller.actor, f"control.{action}", subject, view.account_id
    )


def _leg(request: Request, conference_id: str, leg_id: str) -> LegOut:
    snapshot = _snapshot(request, conference_id)
    [leg] = [leg for leg in snapshot["legs"] if leg["id"] == leg_id]
    return LegOut.model_validate(leg)


def _leg_route(action: str) -> None:
    async def control_leg(
        conference_id: str, leg_id: str, caller: CallerDep, request: Request
    ) -> LegOut:
        await _control(request, caller, conference_id, action, leg_id)
        return _leg(request, conference_id, leg_id)

    control_leg.__doc__ = f"Host control: {action} one leg."
    router.add_api_route(
        f"/conferences/{{conference_id}}/legs/{{leg_id}}/{action}",
        control_leg,
        methods=["POST"],
        response_model=LegOut,
        name=f"leg_{action}",
    )


def _conference_route(path: str, action: str) -> None:
    async def control_conference(
        conference_id: str, caller: CallerDep, request: Request
    ) -> RosterOut:
        await _control(request, caller, conference_id, action)
        return RosterOut.model_validate(_snapshot(request, conference_id))

    control_conference.__doc__ = f"Host control: {path} the conference."
    router.add_api_route(
        f"/conferences/{{conference_id}}/{path}",
        control_conference,
        methods=["POST"],
        response_model=RosterOut,
        name=f"conference_{action}",
    )


class RenameIn(BaseModel):
    name: OptionalPersonName = Field(max_length=80)  # blank is the same as none


@router.patch("/conferences/{conference_id}/legs/{leg_id}", response_model=LegOut)
async def rename_leg(
    conference_id: str, leg_id: str, body: RenameIn, caller: CallerDep, request: Request
) -> LegOut:
    """Host control: name a leg for everyone on the call (``name_source: published``)."""
    view = await _authorise(request, caller, conference_id)
    roster = _roster(request).get(conference_id)
    if roster is None or leg_id not in roster.legs:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such leg on this call")
    name = body.name.strip() if body.name else None
    try:
        bridge_of(request).rename(conference_id, leg_id, name or None, "published")
    except KeyError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "this conference is not in progress"
        ) from None
    await asyncio.to_thread(
        store_of(request).audit.log,
        caller.actor,
        "control.rename",
        f"leg:{leg_id}",
        view.account_id,
    )
    return _leg(request, conference_id, leg_id)


for _action in ("mute", "unmute", "hold", "unhold", "drop"):
    _leg_route(_action)
for _path, _action in (("lock", "lock"), ("unlock", "unlock"), ("mute-all", "mute_all")):
    _conference_route(_path, _action)


def random_ticket() -> str:
    """A new ticket: 256 random bits."""
    return TICKET_PREFIX + secrets.token_urlsafe(32)


def _tickets(request: Request | WebSocket) -> WatchTickets:
    tickets = request.app.state.watch_tickets
    assert isinstance(tickets, WatchTickets)
    return tickets


class TicketOut(BaseModel):
    ticket: str
    expires_in_s: int


@router.post(
    "/conferences/{conference_id}/live/tickets",
    response_model=TicketOut,
    status_code=status.HTTP_201_CREATED,
)
async def live_ticket(conference_id: str, caller: CallerDep, request: Request) -> JSONResponse:
    """A ticket that opens the live roster's WebSocket once, within 30 seconds:
    ``/api/v1/conferences/{conference_id}/live?ticket=...``. For browsers, which cannot set
    headers on a WebSocket: the credential goes here, in ``Authorization`` (or the session
    cookie with ``X-CSRF-Token``), never in a URL. The ticket opens this conference only, as
    whoever the credential stands for when it is redeemed; 404 or 403 as for the roster;
    429 with ``Retry-After`` when 10,000 tickets wait to be redeemed."""
    await asyncio.to_thread(_watch_allowed, store_of(request), caller, conference_id)
    credential = bearer_token(request.headers) or request.cookies.get(SESSION_COOKIE)
    assert credential is not None  # ``authenticated`` found one
    tickets = _tickets(request)
    try:
        ticket = tickets.issue(credential, conference_id, store_of(request).clock())
    except TooManyTickets as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many tickets are waiting to be used",
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    body = TicketOut(ticket=ticket, expires_in_s=int(tickets.lifetime.total_seconds()))
    return JSONResponse(
        body.model_dump(),
        status_code=status.HTTP_201_CREATED,
        headers={"Cache-Control": "no-store"},
    )


# Close codes of the live WebSocket, after accepting it so that the page sees the reason.
TOKEN_IN_URL_REFUSED = 4400
TICKET_REFUSED = 4401


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    await websocket.accept()
    await websocket.close(code=code, reason=reason)


@router.websocket("/conferences/{conference_id}/live")
async def live(
    websocket: WebSocket,
    conference_id: str,
    ticket: str | None = None,
    token: str | None = None,
    since: int | None = None,
) -> None:
    """The roster as it changes. Authenticate with ``Authorization: Bearer``, or from a
    browser (which cannot set headers on a WebSocket) with ``?ticket=`` from
    ``POST .../live/tickets`` or the session cookie of a page of this site. ``?token=`` is
    refused (closed with 4400): a credential in a URL ends up in access logs.

    Every WebSocket message is a JSON array of roster messages, oldest first. The first is
    ``[snapshot]``, or, with ``?since=N``, the changes after N when they are still kept
    (nothing when none were missed; a snapshot when they are too old). Then each message
    holds one or more changes, each with its sequence number: a watcher that keeps up gets
    each change alone as it happens; one that fell behind gets everything it missed in one
    message. A watcher 1,000 changes behind is closed with code 4008 and should reconnect
    with ``?since=`` its last sequence number."""
    store = store_of(websocket)
    if token is not None:
        # No deprecation period: the only browser client is our own page, served with the
        # server, and programs send Authorization; a page loaded before the upgrade reloads.
        await _refuse(
            websocket,
            TOKEN_IN_URL_REFUSED,
            "?token= is refused: POST .../live/tickets with the token, then ?ticket=",
        )
        return
    credential = bearer_token(websocket.headers)
    if credential is None and ticket is not None:
        try:
            credential = _tickets(websocket).redeem(ticket, conference_id, store.clock())
        except TicketRefused as exc:
            await _refuse(websocket, TICKET_REFUSED, exc.reason)
            return
    # A page of this very site signed in: its session cookie.
    credential = credential or websocket_session(websocket)
    source = websocket.client.host if websocket.client else "unknown"
    caller = (
        await asyncio.to_thread(
            caller_for_credential,
            store,
            credential,
            source,
            f"WS /conferences/{conference_id}/live",
        )
        if credential
        else None
    )
    if caller is None:
        await websocket.close(code=4401, reason="sign in or send a valid token")
        return
    try:
        hide = await asyncio.to_thread(_watch_allowed, store, caller, conference_id)
    except HTTPException as exc:
        await websocket.close(code=4000 + exc.status_code, reason=str(exc.detail))
        return
    await asyncio.to_thread(
        store.audit.log,
        caller.actor,
        "roster.watch",
        f"conference:{conference_id}",
        caller.principal.account_id,
    )
    feed: RosterFeed = websocket.app.state.feed
    watcher = feed.watch(conference_id)  # before the snapshot, so nothing falls between
    reader: asyncio.Task[None] | None = None
    try:
        await websocket.accept()

        async def until_closed() -> None:
            # Notice a client that goes away at once, not at the next change.
            try:
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
            finally:
                watcher.close()

        reader = asyncio.create_task(until_closed())
        roster = websocket.app.state.roster.get(conference_id)
        missed = roster.since(since) if roster is not None and since is not None else None
        if missed is None:
            # A conference not in progress has an empty roster (nobody is on the call).
            first = (roster or ConferenceRoster(conference_id)).snapshot()
            await websocket.send_text(encode([_as_guest(first, hide)]))
            sent: int = first["seq"]
        else:
            for start in range(0, len(missed), BATCH_LIMIT):
                chunk = missed[start : start + BATCH_LIMIT]
                await websocket.send_text(encode([_as_guest(m, hide) for m in chunk]))
            sent = missed[-1]["seq"] if missed else (since or 0)
        while (batch := await watcher.changes()) is not None:
            if batch[0].seq <= sent:  # already in the snapshot or the resumed changes
                batch = [delivery for delivery in batch if delivery.seq > sent]
                if not batch:
                    continue
            await websocket.send_text(batch_text(batch, hide))
            sent = batch[-1].seq
        if watcher.overflowed:
            await websocket.close(code=4008, reason="too far behind; reconnect with ?since=")
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-send
    finally:
        if reader is not None:
            reader.cancel()
        feed.unwatch(conference_id, watcher)
