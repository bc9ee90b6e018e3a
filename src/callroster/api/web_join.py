"""Joining a conference from the browser (WebRTC), under the name the guest types.

The page sends its offer with the name; the answer comes back with the leg's id and a key
that only this browser holds, needed to leave (``DELETE``). Guests join with the conference
link as their credential; the host, a delegate or an administrator with a token joins as host.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field, field_validator

from callroster.api.auth import Caller, authenticated, store_of
from callroster.api.routes import authorised_conference
from callroster.bridge.service import BridgeService, ConferenceLocked
from callroster.bridge.web_peer import WebPeerError
from callroster.store.conferences import PinMatch

router = APIRouter(prefix="/api/v1")
CallerDep = Annotated[Caller, Depends(authenticated)]
MAX_OFFER = 64 * 1024


class WebJoinIn(BaseModel):
    name: str = Field(min_length=1, max_length=80, description="shown to everyone on the call")
    sdp: str = Field(min_length=1, max_length=MAX_OFFER, description="the browser's offer")

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        name = " ".join(name.split())
        if not name or not name.isprintable():
            raise ValueError("type the name others should see")
        return name


class WebJoinOut(BaseModel):
    leg_id: str
    sdp: str = Field(description="the answer, with the service's ICE candidates")
    leave_key: str = Field(description="send as X-Leave-Key to leave; known only to you")


def _leave_keys(request: Request) -> dict[str, str]:
    keys: dict[str, str] | None = getattr(request.app.state, "web_leave_keys", None)
    if keys is None:
        keys = request.app.state.web_leave_keys = {}
    return keys


def _bridge(request: Request) -> BridgeService:
    bridge = request.app.state.bridge
    assert isinstance(bridge, BridgeService)
    return bridge


def _match(request: Request, caller: Caller, conference_id: str) -> PinMatch:
    store = store_of(request)
    if caller.guest_of is not None:
        if caller.guest_of != conference_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference")
        as_host = False
    else:
        authorised_conference(store, caller, conference_id)
        as_host = True
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
    everyone sees (``name_source: entered``). 423 when the conference is locked to guests,
    422 when the offer has no usable audio."""
    match = await asyncio.to_thread(_match, request, caller, conference_id)
    try:
        leg_id, answer = await _bridge(request).join_web(match, body.name, body.sdp)
    except ConferenceLocked:
        raise HTTPException(status.HTTP_423_LOCKED, "the host has locked this conference") from None
    except WebPeerError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    key = secrets.token_urlsafe(24)
    _leave_keys(request)[leg_id] = key
    await asyncio.to_thread(
        store_of(request).audit.log, caller.actor, "web.join", f"leg:{leg_id}", match.account_id
    )
    return WebJoinOut(leg_id=leg_id, sdp=answer, leave_key=key)


@router.delete(
    "/conferences/{conference_id}/web-legs/{leg_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def leave_from_browser(conference_id: str, leg_id: str, request: Request) -> Response:
    """Leave the call from the browser that joined it (the key came with the answer)."""
    keys = _leave_keys(request)
    expected = keys.get(leg_id)
    given = request.headers.get("x-leave-key", "")
    if expected is None or not hmac.compare_digest(expected, given):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such browser leg")
    del keys[leg_id]
    _bridge(request).leave_web(leg_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
