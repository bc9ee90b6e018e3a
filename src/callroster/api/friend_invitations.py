"""API v1: Tell a Friend (issue 16). A signed-in person of an account (host, delegate or
administrator; by browser session or their own API token, never an account's API key)
invites one email address to try the service.

``POST /api/v1/friend-invitations`` ``{"email": ..., "over_18": true, "message": null}``:
``message`` null (or absent) sends the standard wording; a text is the sender's own (plain
text, at most 1,000 characters, cleaned of control characters). Answers 202 when queued;
422 for a bad address, a missing over-18 confirmation or a bad message; 422 with the same
words for an address invited before or on the suppression list (which one is never said);
429 past the sender's or the account's daily limit; 409 when no mail server is set up.

Every attempt counts towards the sender's limit in memory as well (refused ones too), so the
one answer for "invited before or suppressed" cannot be probed in bulk.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from callroster.accounts.actor import Role
from callroster.api.auth import Caller, authenticated, require_person, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.rate_limit import SlidingWindow, take
from callroster.config import Settings
from callroster.invitations.friend import (
    MESSAGE_LIMIT,
    STANDARD_WORDING,
    FriendMessageError,
    own_message,
)
from callroster.invitations.recipients import RecipientsError, recipients
from callroster.invitations.sender import InvitationSender, MailServer
from callroster.privacy import normalise
from callroster.store.friend_invitations import FriendLimitError, FriendRefusedError

router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]
DAY_SECONDS = 24 * 3600.0
INVITERS = (Role.HOST, Role.DELEGATE, Role.ADMINISTRATOR)


class FriendInvitationIn(BaseModel):
    email: str = Field(max_length=320, description="the friend's email address")
    over_18: bool = Field(
        description="the sender confirms their friend is 18 or over (required: true)"
    )
    message: str | None = Field(
        default=None,
        max_length=4 * MESSAGE_LIMIT,
        description="the sender's own message (plain text, 1,000 characters at most); "
        "null for the standard wording",
    )


class FriendInvitationQueued(BaseModel):
    status: str = "queued"


def _attempts(request: Request) -> SlidingWindow:
    """Every attempt per sender in the last 24 hours, in memory (refusals included)."""
    state = request.app.state
    window = getattr(state, "friend_invitation_attempts", None)
    if window is None:
        settings: Settings = state.settings
        window = SlidingWindow(settings.friend_invitations_per_sender_per_day, DAY_SECONDS)
        state.friend_invitation_attempts = window
    assert isinstance(window, SlidingWindow)
    return window


def _unprocessable(text: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, text)


async def invite(body: FriendInvitationIn, caller: Caller, request: Request) -> None:
    """Check and queue one invitation; the sender task is woken to send it.

    Raises:
        HTTPException: as the module's docstring says.
    """
    require_person(caller, "invite a friend")
    actor = caller.actor
    if actor.role not in INVITERS or actor.account_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an account's people invite friends")
    settings: Settings = request.app.state.settings
    store = store_of(request)
    if MailServer.of(settings) is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "This service has no mail server set up, so no invitation can be emailed.",
        )
    try:
        (address,) = recipients([body.email.strip()], most=1)
        normalised = normalise.email(address)
    except (RecipientsError, normalise.InvalidValueError):
        raise _unprocessable("That is not an email address.") from None
    if not body.over_18:
        raise _unprocessable("Confirm that your friend is 18 or over.")
    try:
        message = STANDARD_WORDING if body.message is None else own_message(body.message)
    except FriendMessageError as exc:
        raise _unprocessable(str(exc)) from None
    # On the event loop, with no await between check and count (api/rate_limit.take).
    now = request.app.state.monotonic()
    if take([(_attempts(request), actor.actor_id)], now) > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"You may invite {settings.friend_invitations_per_sender_per_day} friends a day; "
            "try again tomorrow.",
        )
    try:
        await asyncio.to_thread(
            store.friend_invitations.queue,
            actor,
            address,
            normalised,
            message,
            standard_wording=body.message is None,
            per_sender_per_day=settings.friend_invitations_per_sender_per_day,
            per_account_per_day=settings.friend_invitations_per_account_per_day,
        )
    except FriendLimitError as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc)) from None
    except FriendRefusedError as exc:
        raise _unprocessable(str(exc)) from None
    wake_sender(request)


def wake_sender(request: Request) -> None:
    sender = getattr(request.app.state, "invitation_sender", None)
    if isinstance(sender, InvitationSender):
        sender.wake()


@router.post(
    "/friend-invitations",
    response_model=FriendInvitationQueued,
    status_code=status.HTTP_202_ACCEPTED,
)
async def invite_a_friend(
    body: FriendInvitationIn, caller: CallerDep, request: Request
) -> FriendInvitationQueued:
    """Invite one friend to try the service (see the module's docstring)."""
    await invite(body, caller, request)
    return FriendInvitationQueued()
