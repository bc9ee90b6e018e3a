"""Click-to-call (the policy's CallEffect): a host asks the service to phone them, then the
person they want to talk to, and to log the call with their notes in the account's CRM.

The host's own phone is the number on their profile. When the call ends, the summary and
the notes go to ``app.state.call_reporter`` (the CRM webhook, wired in ``app.serve``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from callroster.accounts.actor import Role, system
from callroster.api.auth import Caller, authenticated, require_scope, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.dial_out import callable_number, count_account_call, route_target
from callroster.bridge.click_to_call import CallSummary, ClickToCall
from callroster.bridge.dial_target import DialTarget
from callroster.bridge.errors import TooManyCalls
from callroster.config import Settings
from callroster.crm.webhook import WebhookSender
from callroster.store.store import Store

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]
CallReporter = Callable[[CallSummary, str], None]


def call_log(summary: CallSummary, notes: str) -> dict[str, object]:
    """The CRM's call log: what a CRM files against the contact (the number called)."""
    return {
        "event": "call.ended",
        "call_id": summary.call_id,
        "to": summary.target_number,
        "notes": notes,
        "outcome": summary.outcome,
        "failed_leg": summary.failed_leg,
        "requested_by": summary.requested_by,
        "started_at": summary.started_at.isoformat(),
        "answered_at": summary.answered_at.isoformat() if summary.answered_at else None,
        "ended_at": summary.ended_at.isoformat(),
        "duration_s": summary.duration_s,
    }


def crm_reporter(store: Store, sender: WebhookSender) -> CallReporter:
    """Posts each ended click-to-call to its account's CRM webhook, signed and retried (see
    ``crm.webhook``); nothing when the account has none. The look-up runs off the event
    loop, which the media clock shares."""
    pending: set[asyncio.Task[None]] = set()

    async def send(summary: CallSummary, notes: str) -> None:
        target = await asyncio.to_thread(
            store.accounts.crm_webhook, system("click-to-call log"), summary.account_id
        )
        if target is None:
            log.info("click-to-call %s: the account has no CRM webhook", summary.call_id)
            return
        sender.schedule(target, summary.call_id, call_log(summary, notes))

    def report(summary: CallSummary, notes: str) -> None:
        task = asyncio.ensure_future(send(summary, notes))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return report


class CallRequest(BaseModel):
    number: str = Field(min_length=3, max_length=40, description="whom to call: E.164, or national")
    country: str = Field(default="GB", min_length=2, max_length=2)
    notes: str = Field(default="", max_length=4000, description="logged with the call in the CRM")


class CallStarted(BaseModel):
    call_id: str
    status: str = Field(description="calling_you: your phone rings first")


def _plan(request: Request, caller: Caller, e164: str) -> tuple[DialTarget, DialTarget]:
    store = store_of(request)
    user_id = caller.principal.user_id
    assert user_id is not None
    me = store.accounts.get_user(caller.actor, user_id)
    if not me.phone:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "add your own phone number to your profile first: the call rings you first",
        )
    settings: Settings = request.app.state.settings
    own = callable_number(settings, me.phone, "GB")  # a blocked number is refused here too
    limit = settings.dial_out_max_seconds
    return route_target(store, own, limit), route_target(store, e164, limit)


@router.post("/calls", response_model=CallStarted, status_code=status.HTTP_202_ACCEPTED)
async def click_to_call(body: CallRequest, caller: CallerDep, request: Request) -> CallStarted:
    """Phone me, then ``number``, and bridge us. When the call ends, its log (outcome,
    duration, the notes) is posted to the account's CRM webhook, signed. For hosts,
    delegates and administrators with their own phone on their profile."""
    if caller.guest_of is not None or caller.principal.user_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "click-to-call is for signed-in users")
    if caller.principal.role not in (Role.HOST, Role.DELEGATE, Role.ADMINISTRATOR):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "click-to-call is for hosts")
    require_scope(caller, "legs:control")
    settings: Settings = request.app.state.settings
    e164 = callable_number(settings, body.number, body.country)
    host, target = await asyncio.to_thread(_plan, request, caller, e164)
    uncount = count_account_call(request, caller.principal.account_id)  # no await between
    click: ClickToCall = request.app.state.click_to_call
    reporter: CallReporter | None = getattr(request.app.state, "call_reporter", None)
    notes = body.notes

    def ended(summary: CallSummary) -> None:
        if reporter is not None:
            reporter(summary, notes)

    try:
        call_id = await click.start(
            caller.principal.account_id,
            host,
            target,
            caller.principal.user_id,
            settings.dial_out_ring_seconds,
            ended,
        )
    except BaseException as exc:
        uncount()  # not placed: only calls placed count
        if isinstance(exc, TooManyCalls):
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the service is at its call limit; try later"
            ) from None
        raise
    await asyncio.to_thread(
        store_of(request).audit.log,
        caller.actor,
        "click_to_call.start",
        f"call:{call_id}",
        caller.principal.account_id,
    )
    return CallStarted(call_id=call_id, status="calling_you")
