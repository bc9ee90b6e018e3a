"""API v1: who am I, and a conference's join details."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from callroster.accounts.actor import Role
from callroster.api.auth import Caller, authenticated, require_scope, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import UNSEEN
from callroster.store.conferences import ConferenceView
from callroster.store.store import Store

router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]


class Me(BaseModel):
    id: str
    account_id: str
    role: str
    name: str
    email: str | None


class ConferenceOut(BaseModel):
    id: str
    title: str
    pin: str
    dial_in_numbers: list[str]
    dial_in_uris: list[str]
    web_url: str


@router.get("/me", response_model=Me)
def me(caller: CallerDep, request: Request) -> Me:
    if caller.principal.user_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this token belongs to no user")
    user = store_of(request).accounts.get_user(caller.actor, caller.principal.user_id)
    return Me(
        id=user.id,
        account_id=user.account_id,
        role=user.role.value,
        name=user.name,
        email=user.email,
    )


def authorised_conference(
    store: Store, caller: Caller, conference_id: str, scope: str = "roster:read"
) -> ConferenceView:
    """The conference, if the caller is its host, a delegate of its host, or an administrator
    of its account, and their credential carries ``scope``. Another account's conference is
    "not found", never "forbidden"."""
    try:
        view = store.conferences.get_conference(caller.actor, conference_id)
    except UNSEEN:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference") from None
    principal = caller.principal
    allowed = (
        principal.role == Role.ADMINISTRATOR
        or principal.user_id == view.host_id
        or (
            principal.role == Role.DELEGATE
            and principal.user_id is not None
            and view.host_id in store.accounts.hosts_delegated_to(principal.user_id)
        )
    )
    if not allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "only the host, a delegate or an administrator may do this",
        )
    require_scope(caller, scope)
    return view


@router.get("/conferences/{conference_id}", response_model=ConferenceOut)
def conference(conference_id: str, caller: CallerDep, request: Request) -> ConferenceOut:
    """A conference's join details, for its host, the host's delegates and administrators."""
    settings = request.app.state.settings
    view = authorised_conference(store_of(request), caller, conference_id)
    sip_host = f"{settings.host_for_links}:{settings.sip_port}"
    return ConferenceOut(
        id=view.id,
        title=view.title,
        pin=view.pin,
        dial_in_numbers=list(view.dial_in_numbers),
        dial_in_uris=[f"sip:{n}@{sip_host}" for n in view.dial_in_numbers],
        web_url=f"{settings.web_base_url}/c/{view.web_link}",
    )
