"""Joining a conference from the browser (WebRTC), under the name the guest types.

The page sends its offer with the name; the answer comes back with the leg's id and a key
that only this browser holds, needed to leave (``DELETE``).

Joining with audio is for people: a guest with the conference link joins as a guest; a user
who runs the conference (its host, a delegate of the host, an administrator of its account),
by session or their own token with ``legs:control``, joins as who they are: as host if they
are its host, else as a guest. An account's API key never joins, whatever its scopes. A
locked conference refuses everyone but its host (``bridge/web_legs.py``).

A join shows on the roster only once the browser's audio arrives; until then it is pending,
and pending joins are capped per conference and per address (``bridge/web_pending.py``).
Each address may also start only ``web_joins_per_address_per_minute`` joins a minute. The
address is the request's, as uvicorn gives it (``X-Forwarded-For`` only from
``trusted_proxies``). Over any of these the answer is 429 with ``Retry-After`` and a detail
saying which, and nothing is created.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from callroster.accounts.actor import Actor, Role
from callroster.api.auth import (
    Caller,
    authenticated,
    require_person,
    require_scope,
    signed_in_beside,
    store_of,
)
from callroster.api.credentials_first import CredentialsFirst, counts_as_credential
from callroster.api.deps import bridge_of
from callroster.api.names import PersonName
from callroster.api.rate_limit import SlidingWindow, take
from callroster.api.routes import require_runs_conference, visible_conference
from callroster.bridge.errors import ConferenceLocked, TooManyPendingJoins
from callroster.bridge.pin_guard import source_key
from callroster.bridge.web_peer import WebPeerError
from callroster.conference.conference import ConferenceError
from callroster.errors import AccessDeniedError, NotFoundError
from callroster.privacy.profile_url import MAX_LENGTH as MAX_PROFILE_URL
from callroster.privacy.profile_url import ProfileUrlError, check_profile_url
from callroster.store.conferences import PinMatch

router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]
MAX_OFFER = 64 * 1024
MINUTE = 60.0
REFUSED = {
    "per_address": "too many joins from your address are still connecting; try again shortly",
    "per_conference": "too many joins to this call are still connecting; try again shortly",
    "rate": "too many joins from your address in the last minute; try again shortly",
}


class WebJoinIn(BaseModel):
    name: PersonName = Field(
        min_length=1, max_length=80, description="shown to everyone on the call"
    )
    sdp: str = Field(min_length=1, max_length=MAX_OFFER, description="the browser's offer")
    profile_url: str | None = Field(
        None,
        max_length=2 * MAX_PROFILE_URL,
        description="a public profile of yours (https), shown beside your name to everyone "
        "on the call only with show_profile; without it, it is discarded unread",
    )
    show_profile: bool = Field(
        False, description="your consent to show profile_url to everyone on this call"
    )


class WebJoinOut(BaseModel):
    leg_id: str
    sdp: str = Field(description="the answer, with the service's ICE candidates")
    key: str = Field(description="send as X-Leg-Key to mute yourself or leave; only you have it")
    profile_url: str | None = Field(
        None,
        description="the public profile shown beside your name (the one sent with consent, "
        "else the one you consented to on /me when signed in); None: none is shown",
    )


def _per_address(request: Request) -> tuple[SlidingWindow, float]:
    """The joins-per-minute window (on the app's monotonic clock, as ``api/dial_out.py``'s),
    and now on it."""
    state = request.app.state
    window: SlidingWindow | None = getattr(state, "web_join_window", None)
    if window is None:
        window = SlidingWindow(state.settings.web_joins_per_address_per_minute, MINUTE)
        state.web_join_window = window
    return window, getattr(state, "monotonic", time.monotonic)()


def _too_many(reason: str, wait: float) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        REFUSED[reason],
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def _match(request: Request, caller: Caller, conference_id: str) -> PinMatch:
    """What the caller joins, and as whom: the role comes from who the person is, never from
    the kind of credential."""
    store = store_of(request)
    if caller.guest_of is not None:
        if caller.guest_of != conference_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference")
        as_host = False
    else:
        view = visible_conference(store, caller, conference_id)
        require_person(caller, "join a call with audio")
        require_runs_conference(store, caller, view)
        require_scope(caller, "legs:control")
        as_host = caller.principal.user_id == view.host_id
    match = store.conferences.open_for_web(conference_id, as_host)
    if match is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference")
    return match


@router.post(
    "/conferences/{conference_id}/web-legs",
    response_model=WebJoinOut,
    status_code=status.HTTP_201_CREATED,
)
async def join_from_browser(
    conference_id: str, body: WebJoinIn, caller: CallerDep, request: Request
) -> WebJoinOut:
    """Join the call from this browser (WebRTC audio, PCMU) under the typed name, which
    everyone sees (``name_source: entered``). 403 for an API key; 423 when the conference is
    locked and the caller is not its host; 422 when the offer has no usable audio; 429 with
    Retry-After when too many joins from this address or to this call are still connecting,
    or this address has started too many in the last minute.

    The leg shows on the roster once the browser's audio arrives (its connection is up),
    and is dropped, never shown, if that does not happen within
    ``web_join_connect_seconds``."""
    match = await asyncio.to_thread(_match, request, caller, conference_id)
    profile_url = _consented_profile(body)
    # A guest's join from a browser also signed in (session cookie and CSRF token beside the
    # link): still a guest, but their profile consented to on /me is shown, and a later
    # change there reaches this leg.
    person = (
        caller if caller.guest_of is None else await asyncio.to_thread(signed_in_beside, request)
    )
    user_id = (person.principal.user_id or "") if person is not None else ""
    version: str | None = None  # of their stored profile, which a change on any node updates
    if profile_url is None and person is not None and user_id:  # consented to on /me, if any
        profile_url, version = await asyncio.to_thread(_stored_profile, request, person, user_id)
    elif user_id:  # a profile typed for this call: a later change on /me still counts
        versions = store_of(request).public_profiles.versions
        version = (await asyncio.to_thread(versions, [user_id]))[user_id]
    source = request.client.host if request.client else "unknown"
    window, now = _per_address(request)
    key = source_key(source)
    # Checked and counted in one step, before the next await (see api/rate_limit.py).
    wait = take([(window, key)], now)
    if wait > 0:
        raise _too_many("rate", wait)
    try:
        joined = await bridge_of(request).join_web(
            match,
            body.name,
            body.sdp,
            source,
            secure=request.url.scheme == "https",
            profile_url=profile_url,
            user_id=user_id,
            profile_version=version,
        )
    except ConferenceLocked:
        window.forget(key, now)  # nothing was started
        raise HTTPException(status.HTTP_423_LOCKED, "the host has locked this conference") from None
    except TooManyPendingJoins as exc:
        window.forget(key, now)
        raise _too_many(exc.reason, exc.retry_after) from None
    except WebPeerError as exc:  # counts: answering it cost as much as a good one
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    await asyncio.to_thread(
        store_of(request).audit.log,
        caller.actor,
        "web.join",
        f"leg:{joined.leg_id}",
        match.account_id,
    )
    if profile_url is not None:  # the consent, never the address
        await asyncio.to_thread(
            store_of(request).audit.log,
            caller.actor,
            "profile.shown",
            f"leg:{joined.leg_id}",
            match.account_id,
        )
    return WebJoinOut(
        leg_id=joined.leg_id, sdp=joined.answer, key=joined.key, profile_url=profile_url
    )


def _consented_profile(body: WebJoinIn) -> str | None:
    """The profile address to show, checked; None without consent (the address given
    without consent is dropped here, unread: never stored, never in an event).

    Raises:
        HTTPException: 422 with the reason when a consented address is not acceptable.
    """
    if not body.show_profile or not body.profile_url or not body.profile_url.strip():
        return None
    try:
        return check_profile_url(body.profile_url)
    except ProfileUrlError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Public profile: {exc}."
        ) from None


def _stored_profile(
    request: Request, caller: Caller, user_id: str
) -> tuple[str | None, str | None]:
    """A signed-in user's profile address, if they consented to show it on /me, and the
    version read (None: none)."""
    try:
        profile, version = store_of(request).public_profiles.get_versioned(caller.actor, user_id)
    except (AccessDeniedError, NotFoundError):
        return None, None
    return profile.shown_url, version


def _own_leg(request: Request, leg_id: str) -> None:
    """Only the browser that joined holds the leg's key."""
    if not bridge_of(request).owns_web_leg(leg_id, request.headers.get("x-leg-key", "")):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such browser leg")


@counts_as_credential
async def own_web_leg(request: Request) -> None:
    """The credential of a browser leg's own routes that take a body, checked before the body
    is read (``api/credentials_first.py``): 401 without an ``X-Leg-Key``, 404 with one that
    is not this leg's (as for a leg that does not exist)."""
    if not request.headers.get("x-leg-key"):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "send the browser leg's X-Leg-Key")
    _own_leg(request, str(request.path_params.get("leg_id", "")))


class SelfMuteOut(BaseModel):
    muted: bool


def _self_mute_route(action: str) -> None:
    async def mute_from_browser(conference_id: str, leg_id: str, request: Request) -> SelfMuteOut:
        _own_leg(request, leg_id)
        try:
            allowed = bridge_of(request).mute_self(leg_id, action == "mute")
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such browser leg") from None
        if not allowed:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "the host has muted you; only the host can unmute you"
            )
        return SelfMuteOut(muted=action == "mute")

    mute_from_browser.__doc__ = (
        f"The browser that joined {action}s itself (send its X-Leg-Key); the roster shows it."
    )
    router.add_api_route(
        f"/conferences/{{conference_id}}/web-legs/{{leg_id}}/{action}",
        mute_from_browser,
        methods=["POST"],
        response_model=SelfMuteOut,
        name=f"web_leg_{action}",
    )


for _action in ("mute", "unmute"):
    _self_mute_route(_action)


class ProfileIn(BaseModel):
    url: str = Field(min_length=1, max_length=2 * MAX_PROFILE_URL)


class ProfileOut(BaseModel):
    profile_url: str | None = Field(description="shown to everyone on the call; None: hidden")


PROFILE_CHANGES_PER_MINUTE = 20


def _profile_change_allowed(request: Request, leg_id: str) -> None:
    """Showing and hiding is limited per leg: every change reaches every watcher."""
    state = request.app.state
    window: SlidingWindow | None = getattr(state, "web_profile_window", None)
    if window is None:
        window = state.web_profile_window = SlidingWindow(PROFILE_CHANGES_PER_MINUTE, MINUTE)
    wait = take([(window, leg_id)], getattr(state, "monotonic", time.monotonic)())
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many changes to your profile in the last minute; try again shortly",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


async def _set_own_profile(request: Request, leg_id: str, url: str | None) -> ProfileOut:
    _own_leg(request, leg_id)
    _profile_change_allowed(request, leg_id)
    bridge = bridge_of(request)
    try:
        bridge.set_own_profile(leg_id, url)
    except (KeyError, ConferenceError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such browser leg") from None
    account_id = bridge.account_of_leg(leg_id)
    source = request.client.host if request.client else "unknown"
    # The leg's own key is the credential: the audit names the leg, never the address.
    actor = Actor(f"leg:{leg_id[:6]}", Role.GUEST, account_id, source, "own profile")
    action = "profile.shown" if url is not None else "profile.hidden"
    await asyncio.to_thread(store_of(request).audit.log, actor, action, f"leg:{leg_id}", account_id)
    return ProfileOut(profile_url=url)


@router.put(
    "/conferences/{conference_id}/web-legs/{leg_id}/profile",
    response_model=ProfileOut,
    dependencies=[Depends(own_web_leg)],
)
async def show_own_profile(
    conference_id: str, leg_id: str, body: ProfileIn, request: Request
) -> ProfileOut:
    """The browser that joined (its X-Leg-Key) shows a link to its person's public profile
    (https only; see privacy/profile_url.py) beside their name, on every roster of the call
    at once: sending it is their consent. 422 with the reason for an address that is not
    acceptable; 429 after 20 changes in a minute."""
    _own_leg(request, leg_id)
    try:
        url = check_profile_url(body.url)
    except ProfileUrlError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Public profile: {exc}."
        ) from None
    return await _set_own_profile(request, leg_id, url)


@router.delete("/conferences/{conference_id}/web-legs/{leg_id}/profile", response_model=ProfileOut)
async def hide_own_profile(conference_id: str, leg_id: str, request: Request) -> ProfileOut:
    """The browser that joined (its X-Leg-Key) withdraws its consent: the link goes from
    every roster of the call at once. Only that browser can: another participant's key
    opens nothing here (404)."""
    return await _set_own_profile(request, leg_id, None)


@router.delete(
    "/conferences/{conference_id}/web-legs/{leg_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def leave_from_browser(conference_id: str, leg_id: str, request: Request) -> Response:
    """Leave the call from the browser that joined it (the key came with the answer)."""
    _own_leg(request, leg_id)
    bridge_of(request).leave_web(leg_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
