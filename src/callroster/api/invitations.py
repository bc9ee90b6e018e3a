"""API v1: a conference's invitation, as text and as an ``.ics``, emailed to a list of
addresses, and what became of each email.

For the people who run the conference (its host, the host's delegates, its account's
administrators), never an API key: an invitation holds the guest PIN and the room link,
which admit to the call with audio. It never holds the host PIN.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from callroster.api.auth import Caller, authenticated, require_person, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.routes import authorised_conference
from callroster.config import Settings
from callroster.invitations.invitation import Invitation, as_ics, as_text, invitation_for
from callroster.invitations.recipients import RecipientsError, recipients, split
from callroster.invitations.sender import InvitationSender, MailServer
from callroster.store.conferences import ConferenceView
from callroster.store.invitations import InvitationCapError, OutboxEntry

router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]
C = "/conferences/{conference_id}"
SHORTEST, LONGEST = 5, 24 * 60  # minutes an event in the .ics may last


class EmailsIn(BaseModel):
    addresses: list[str] | str = Field(
        description="the addresses: a list, or one text separated by commas, semicolons or "
        "line ends; each an address or 'Name <address>'"
    )
    start: dt.datetime | str | None = Field(
        default=None,
        description="when the call is, for the attached .ics (ISO 8601; without a zone, "
        "UTC); default the next whole hour",
    )
    minutes: int = Field(default=60, ge=SHORTEST, le=LONGEST)


class EmailsQueued(BaseModel):
    batch: str
    queued: int


class OutboxOut(BaseModel):
    id: str
    address: str
    status: str = Field(description="queued | retrying | sent | failed")
    attempts: int
    reason: str | None = Field(description="why the last attempt failed")
    next_attempt_at: dt.datetime | None
    queued_at: dt.datetime
    sent_at: dt.datetime | None


def invitation_of(request: Request, caller: Caller, conference_id: str) -> Invitation:
    """The conference's invitation, if the caller is a person who runs it (else 403, or 404
    for another account's conference)."""
    view = _conference(request, caller, conference_id)
    settings: Settings = request.app.state.settings
    return invitation_for(
        view, web_base_url=settings.web_base_url, sip_hostport=settings.sip_hostport
    )


def _conference(request: Request, caller: Caller, conference_id: str) -> ConferenceView:
    view = authorised_conference(store_of(request), caller, conference_id, "legs:control")
    require_person(caller, "read or send a conference's invitation")
    return view


def event_start(start: dt.datetime | str | None, now: dt.datetime) -> dt.datetime:
    """When the call in an ``.ics`` starts: as given (a time without a zone is UTC), else the
    next whole hour.

    Raises:
        HTTPException: 422, ``start`` is not a date and time.
    """
    if isinstance(start, str):
        try:
            start = dt.datetime.fromisoformat(start.strip()) if start.strip() else None
        except ValueError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "The start is a date and time, such as 2026-12-07T10:00.",
            ) from None
    if start is None:
        return now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    return start if start.tzinfo else start.replace(tzinfo=dt.UTC)


@router.get(f"{C}/invitation", response_class=PlainTextResponse)
def invitation_text(conference_id: str, caller: CallerDep, request: Request) -> Response:
    """The invitation as plain text, to copy into a message."""
    return PlainTextResponse(
        as_text(invitation_of(request, caller, conference_id)),
        headers={"Cache-Control": "no-store"},
    )


@router.get(f"{C}/invitation.ics", response_class=Response)
def invitation_ics(
    conference_id: str,
    caller: CallerDep,
    request: Request,
    start: Annotated[str | None, Query(max_length=40)] = None,
    minutes: Annotated[int, Query(ge=SHORTEST, le=LONGEST)] = 60,
) -> Response:
    """The invitation as an iCalendar file (``text/calendar``), the call at ``start`` (default
    the next whole hour) for ``minutes``."""
    store, settings = store_of(request), request.app.state.settings
    invitation = invitation_of(request, caller, conference_id)
    now = store.clock()
    body = as_ics(
        invitation,
        start=event_start(start, now),
        minutes=minutes,
        stamp=now,
        domain=settings.host_for_links,
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="invitation.ics"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    f"{C}/invitation/emails", response_model=EmailsQueued, status_code=status.HTTP_202_ACCEPTED
)
async def send_invitation(
    conference_id: str, body: EmailsIn, caller: CallerDep, request: Request
) -> EmailsQueued:
    """Email the invitation to each address (one message each, so no guest sees the others),
    with the ``.ics`` attached. The whole list is checked first: a bad address (each named),
    more than ``invitations_per_sending`` addresses, or more than the host's
    ``invitations_per_host_per_day``, and nothing is queued (422, or 429 for the daily cap).
    Sent by the service's sender task; each email's fate is in ``GET …/invitation/emails``."""
    store = store_of(request)
    settings: Settings = request.app.state.settings

    def queue() -> EmailsQueued:
        _conference(request, caller, conference_id)
        if MailServer.of(settings) is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "This service has no mail server set up, so invitations cannot be emailed: "
                "copy the invitation or download its calendar file instead.",
            )
        given = split(body.addresses) if isinstance(body.addresses, str) else body.addresses
        try:
            addresses = recipients(given, most=settings.invitations_per_sending)
        except RecipientsError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        try:
            batch = store.invitations.queue(
                caller.actor,
                conference_id,
                addresses,
                event_start=event_start(body.start, store.clock()),
                event_minutes=body.minutes,
                per_host_per_day=settings.invitations_per_host_per_day,
            )
        except InvitationCapError as exc:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc)) from None
        return EmailsQueued(batch=batch, queued=len(addresses))

    queued = await asyncio.to_thread(queue)
    sender = getattr(request.app.state, "invitation_sender", None)
    if isinstance(sender, InvitationSender):
        sender.wake()
    return queued


@router.get(f"{C}/invitation/emails", response_model=list[OutboxOut])
def invitation_emails(conference_id: str, caller: CallerDep, request: Request) -> list[OutboxOut]:
    """The conference's invitation emails of the last 30 days, newest first: sent, queued,
    retrying (with the reason and the next attempt) or failed (with the reason)."""
    _conference(request, caller, conference_id)
    return [_out(entry) for entry in outbox(request, caller, conference_id)]


def outbox(request: Request, caller: Caller, conference_id: str) -> list[OutboxEntry]:
    return store_of(request).invitations.outbox(caller.actor, conference_id)


def _out(entry: OutboxEntry) -> OutboxOut:
    return OutboxOut(
        id=entry.id,
        address=entry.address,
        status=entry.status,
        attempts=entry.attempts,
        reason=entry.last_error,
        next_attempt_at=entry.next_attempt_at,
        queued_at=entry.created_at,
        sent_at=entry.sent_at,
    )
