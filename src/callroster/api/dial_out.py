"""Dialling out from a conference: the host adds a guest by number, or a guest on the web page
asks to be called ("we call you"). Calls leave through the operator's trunk for the number.

Every call costs the operator money, and a fraudster earns from calls to some numbers (toll
fraud, issue 12 finding 6). So a number is called only when the allow list lets it
(``bridge/dial_policy.py``: countries and kinds of number; guests only their account's
countries), each account places at most ``dial_out_per_account_per_day`` calls in any 24
hours, and "we call you" is held to a few calls per conference and per source address in any
ten minutes. A request is counted against those limits in the same step that checks them,
before anything awaits, so requests arriving together cannot all pass the check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from callroster.accounts.actor import system
from callroster.api.auth import Caller, authenticated, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.deps import bridge_of
from callroster.api.names import OptionalPersonName
from callroster.api.rate_limit import SlidingWindow, take
from callroster.api.routes import authorised_conference
from callroster.bridge.dial_policy import DialRefusedError
from callroster.bridge.dial_target import DialTarget
from callroster.bridge.errors import TooManyCalls
from callroster.config import Settings
from callroster.privacy import normalise
from callroster.sip.digest import Credentials
from callroster.store.conferences import PinMatch
from callroster.store.store import Store

router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]
WINDOW_S = 600.0
DAY_S = 86400.0


class DialRequest(BaseModel):
    number: str = Field(min_length=3, max_length=40, description="E.164, or national + country")
    country: str = Field(
        default="GB", min_length=2, max_length=2, description="ISO country of a national number"
    )
    name: OptionalPersonName = Field(
        default=None, max_length=80, description="shown in the roster; a guest must give one"
    )


class DialResult(BaseModel):
    leg_id: str
    number: str = Field(description="the number dialled, E.164")
    status: str = Field(description="joining: ringing; watch the roster for the outcome")


class _Limits:
    """The dial-out windows ("we call you" per conference and address, every call per
    account and day), on the app's monotonic clock (``app.state.monotonic``, set by
    ``create_app``; a test may give a fake one)."""

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.per_account = SlidingWindow(settings.dial_out_per_account_per_day, DAY_S)
        self.per_conference = SlidingWindow(settings.call_me_per_conference, WINDOW_S)
        self.per_address = SlidingWindow(settings.call_me_per_address, WINDOW_S)
        self.now = clock


def _limits(request: Request) -> _Limits:
    state = request.app.state
    limits: _Limits | None = getattr(state, "call_me_limits", None)
    if limits is None:
        clock = getattr(state, "monotonic", time.monotonic)
        limits = state.call_me_limits = _Limits(state.settings, clock)
    return limits


def count_account_call(request: Request, account_id: str) -> Callable[[], None]:
    """Count one call against the account's daily cap, checked and counted in one step (call
    it with no ``await`` between it and the check that decided to call). Returns what takes
    the count back, for a call that was not placed after all.

    Raises:
        HTTPException: 429 (with Retry-After) when the account has placed its calls for the
            day.
    """
    limits = _limits(request)
    now = limits.now()
    wait = take([(limits.per_account, account_id)], now)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "this account has placed as many calls as it may today; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    return lambda: limits.per_account.forget(account_id, now)


def _plan(
    request: Request, caller: Caller, conference_id: str, e164: str
) -> tuple[PinMatch, DialTarget, str | None]:
    """The conference, the trunk, and who invites the callee (the user's name; a guest
    who asked to be called hears no name)."""
    store = store_of(request)
    inviter = None
    if caller.guest_of is None:
        authorised_conference(store, caller, conference_id, "legs:control")
        if caller.principal.user_id is not None:
            inviter = store.accounts.get_user(caller.actor, caller.principal.user_id).name
    elif caller.guest_of != conference_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference")
    match = store.conferences.open_for_web(conference_id, as_host=False)
    if match is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference")
    settings: Settings = request.app.state.settings
    return match, route_target(store, e164, settings.dial_out_max_seconds), inviter


def route_target(store: Store, e164: str, max_seconds: float | None = None) -> DialTarget:
    """Where a number is dialled: the operator's trunk for it, with its credentials, and the
    longest the call may last once on it (``max_seconds``; the bridge's own limit if None).

    Raises:
        HTTPException: 422 when no trunk serves the number.
    """
    route = store.trunks.route(system("dial-out"), e164)
    if route is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "this service cannot call numbers like this one"
        )
    credentials = (
        Credentials(route.username, route.password or "") if route.username is not None else None
    )
    target = DialTarget(
        e164,
        route.host,
        route.port,
        "tls" if route.transport == "tls" else "tcp" if route.transport == "tcp" else "udp",
        route.caller_id,
        route.trunk_id,
        credentials,
        trunk_name=route.name,
    )
    return target if max_seconds is None else replace(target, max_seconds=max_seconds)


def callable_number(settings: Settings, number: str, country: str, *, guest: bool = False) -> str:
    """The number in E.164, if the allow list lets the service call it for a host (or, with
    ``guest``, for a guest who asked to be called).

    Raises:
        HTTPException: 422 for what is not a phone number, 403 for one not allowed (the
            detail says why).
    """
    try:
        e164 = normalise.phone_e164(number, country.upper())
    except normalise.InvalidValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "that is not a phone number we can call"
        ) from None
    try:
        settings.dial_policy.check(e164, guest=guest)
    except DialRefusedError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    if any(e164.startswith(prefix) for prefix in settings.dial_out_blocked_prefixes):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "calls to this number are not allowed")
    return e164


@router.post(
    "/conferences/{conference_id}/legs",
    response_model=DialResult,
    status_code=status.HTTP_202_ACCEPTED,
)
async def dial_into_conference(
    conference_id: str, body: DialRequest, caller: CallerDep, request: Request
) -> DialResult:
    """Call a number into the conference. The host (or a delegate, or an administrator) adds
    a guest by number and name; a guest with the conference link asks to be called ("we call
    you") under their own name. The leg shows as ``joining`` while it rings; the callee joins
    by pressing 1, or the leg leaves with ``left_reason`` busy, no_answer, declined,
    failed, or certificate_refused (a TLS trunk whose certificate failed verification).
    403 for a number the allow list refuses, 422 for one that is not a phone number or that
    no trunk serves, 423 when a guest asks while the conference is locked, 429 (with
    Retry-After) when a guest asks too often or the account has placed its calls for the
    day."""
    settings: Settings = request.app.state.settings
    guest = caller.guest_of is not None
    e164 = callable_number(settings, body.number, body.country, guest=guest)
    name = body.name  # normalised by its type, blank as None
    if guest and name is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "type the name others should see"
        )
    match, target, inviter = await asyncio.to_thread(_plan, request, caller, conference_id, e164)
    if guest and bridge_of(request).is_locked(match):
        # Like a caller dialling in: a locked conference lets no guest in (the host may still
        # call someone in).
        raise HTTPException(status.HTTP_423_LOCKED, "the host has locked this conference")
    source = request.client.host if request.client else "unknown"
    limits = _limits(request)
    now = limits.now()
    windows = [(limits.per_account, match.account_id)]
    if guest:
        windows += [(limits.per_conference, conference_id), (limits.per_address, source)]
    # Checked and counted in one step, before the next await (see the module's docstring).
    wait = take(windows, now)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many calls from this page; try again later"
            if guest
            else "this account has placed as many calls as it may today; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    try:
        leg_id = await bridge_of(request).dial_out(
            match,
            target,
            name,
            settings.dial_out_ring_seconds,
            requested_by=caller.principal.user_id or "guest",
            name_source="entered" if guest else "host",
            inviter=inviter,
        )
    except BaseException as exc:
        for window, key in windows:  # not placed: only calls placed count
            window.forget(key, now)
        if isinstance(exc, TooManyCalls):
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the service is at its call limit; try later"
            ) from None
        raise
    await asyncio.to_thread(
        store_of(request).audit.log,
        caller.actor,
        "web.call_me" if guest else "control.dial_out",
        f"leg:{leg_id}",
        match.account_id,
    )
    return DialResult(leg_id=leg_id, number=e164, status="joining")
