"""API v1: who am I, and a conference's join details."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from callroster.accounts.actor import Role
from callroster.api.auth import Caller, authenticated, is_account_key, require_scope, store_of
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
    dial_in_numbers: list[str]
    dial_in_uris: list[str]
    pin: str | None = Field(
        description="the guest PIN: for the people who run the conference (its host, the "
        "host's delegates, its account's administrators) with legs:control; never for an API key"
    )
    host_pin: str | None = Field(
        description="the host's PIN (joins as host, with the keypad's controls): for the host "
        "and the account's administrators only"
    )
    web_url: str | None = Field(
        description="the guest link (joins with audio): for the same people as the PIN"
    )


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


def visible_conference(store: Store, caller: Caller, conference_id: str) -> ConferenceView:
    """The conference, if it is of the caller's account; else 404 "no such conference", so
    another account never learns that it exists. Who may do what with it is the caller's
    to check next."""
    try:
        return store.conferences.get_conference(caller.actor, conference_id)
    except UNSEEN:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference") from None


def authorised_conference(
    store: Store, caller: Caller, conference_id: str, scope: str = "roster:read"
) -> ConferenceView:
    """The conference, if the caller is its host, a delegate of its host, or an administrator
    of its account, and their credential carries ``scope``. Another account's conference is
    "not found", never "forbidden"."""
    view = visible_conference(store, caller, conference_id)
    require_runs_conference(store, caller, view)
    require_scope(caller, scope)
    return view


def require_runs_conference(store: Store, caller: Caller, view: ConferenceView) -> None:
    """Refuses (403) anyone but the conference's host, a delegate of its host, or an
    administrator of its account (an account's API key acts as one)."""
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


def may_see_join_secrets(caller: Caller, view: ConferenceView) -> tuple[bool, bool]:
    """Whether an authorised caller (see ``authorised_conference``) may read the conference's
    guest PIN and link, and its host PIN. They admit to the call with audio, so they are for
    the people who run it, with a credential that may control it (``legs:control``): never an
    API key, whatever its scopes, nor a token that may only read. The host PIN, which joins as
    host, is for the host and the account's administrators (not delegates)."""
    scopes = caller.principal.scopes
    person = not is_account_key(caller) and caller.guest_of is None
    may = person and ("legs:control" in scopes or "admin" in scopes)
    host_pin = may and (
        caller.principal.user_id == view.host_id or caller.principal.role == Role.ADMINISTRATOR
    )
    return may, host_pin


@router.get("/conferences/{conference_id}", response_model=ConferenceOut)
def conference(conference_id: str, caller: CallerDep, request: Request) -> ConferenceOut:
    """A conference's join details, for its host, the host's delegates, administrators and
    API keys with ``roster:read``; the PINs and the guest link only as
    ``may_see_join_secrets`` says (else null)."""
    settings = request.app.state.settings
    view = authorised_conference(store_of(request), caller, conference_id)
    shown, host_pin_shown = may_see_join_secrets(caller, view)
    sip_host = f"{settings.host_for_links}:{settings.sip_port}"
    return ConferenceOut(
        id=view.id,
        title=view.title,
        dial_in_numbers=list(view.dial_in_numbers),
        dial_in_uris=[f"sip:{n}@{sip_host}" for n in view.dial_in_numbers],
        pin=view.pin if shown else None,
        host_pin=view.host_pin if host_pin_shown else None,
        web_url=f"{settings.web_base_url}/c/{view.web_link}" if shown else None,
    )
