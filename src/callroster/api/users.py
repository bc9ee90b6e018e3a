"""The account's users over the API, and each user's own profile and delegates.

- ``/api/v1/account/users…``: the account's administrators (with the ``admin`` scope) list,
  add, read, edit, suspend, resume and remove its users, and read a host's conference
  history. An administrator cannot suspend or remove themselves (so an account always keeps
  one). Passwords can be set, never read.
- ``/api/v1/me`` (PATCH): anyone signed in changes their own name and phone.
- ``/api/v1/me/delegates…``: a host authorises a delegate of the same account (who may then
  manage the host's conferences and use the host controls, never change the host's
  profile) and withdraws it. Delegates cannot delegate.
- ``/api/v1/conferences/{id}/pin``: the host or a delegate gives the conference a new PIN.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Literal

from anyio import from_thread
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from callroster.accounts.actor import Role
from callroster.api.account import administered_account
from callroster.api.auth import (
    Caller,
    authenticated,
    is_account_key,
    require_person,
    require_scope,
    store_of,
)
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import UNSEEN, answering
from callroster.api.names import PersonName
from callroster.api.routes import authorised_conference
from callroster.bridge.service import BridgeService
from callroster.errors import NotFoundError
from callroster.store.accounts import UserView
from callroster.store.public_profiles import REMOVED
from callroster.store.store import Store
from callroster.store.user_admin import ConferenceHistory, UserSummary

router = APIRouter(prefix="/api/v1", tags=["users"], route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]
RoleName = Literal["administrator", "host", "delegate"]


class UserOut(BaseModel):
    id: str
    role: str
    name: str
    email: str | None
    phone: str | None
    suspended: bool
    removed: bool = False
    created_at: dt.datetime | None = None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleName
    name: PersonName = Field(min_length=1, max_length=120)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    password: str | None = Field(default=None, min_length=12, max_length=1024)


class UserPatch(BaseModel):
    """Only what is given changes; an empty email or phone clears it."""

    model_config = ConfigDict(extra="forbid")
    role: RoleName | None = None
    name: PersonName | None = Field(default=None, min_length=1, max_length=120)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    password: str | None = Field(default=None, min_length=12, max_length=1024)


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PersonName | None = Field(default=None, min_length=1, max_length=120)
    phone: str | None = Field(default=None, max_length=40)


class DelegateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=36)


class ConferenceHistoryOut(BaseModel):
    id: str
    title: str
    pin: str | None = Field(description="null for an API key: PINs are for people")
    web_link: str | None = Field(description="null for an API key, as the PIN")
    created_at: dt.datetime
    legs: int
    last_joined_at: dt.datetime | None


class PinOut(BaseModel):
    pin: str


def _summary_out(s: UserSummary) -> UserOut:
    return UserOut(
        id=s.id,
        role=s.role.value,
        name=s.name,
        email=s.email,
        phone=s.phone,
        suspended=s.suspended,
        removed=s.removed,
        created_at=s.created_at,
    )


def _view_out(v: UserView) -> UserOut:
    return UserOut(
        id=v.id, role=v.role.value, name=v.name, email=v.email, phone=v.phone, suspended=v.suspended
    )


def _history_out(h: ConferenceHistory, secrets_shown: bool) -> ConferenceHistoryOut:
    return ConferenceHistoryOut(
        id=h.id,
        title=h.title,
        pin=h.pin if secrets_shown else None,
        web_link=h.web_link if secrets_shown else None,
        created_at=h.created_at,
        legs=h.legs,
        last_joined_at=h.last_joined_at,
    )


NO_SUCH_USER = "no such user in this account"


def _member(store: Store, caller: Caller, account_id: str, user_id: str) -> None:
    """404 unless the user belongs to the caller's account (never says whether it exists)."""
    try:
        owner, _ = store.accounts.user_account_and_role(user_id)
    except NotFoundError:
        owner = None
    if owner != account_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_SUCH_USER)


# -- the account's users (administrators) -----------------------------------------------------
@router.get("/account/users", response_model=list[UserOut])
def list_users(caller: CallerDep, request: Request) -> list[UserOut]:
    """Everyone of the account: administrators, hosts and delegates (removed ones last)."""
    account_id = administered_account(caller)
    return [_summary_out(s) for s in store_of(request).users.list_users(caller.actor, account_id)]


@router.post("/account/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def add_user(body: UserIn, caller: CallerDep, request: Request) -> UserOut:
    """Add a user; with a password they can sign in at /login with their email. A host is
    given their personal conference (``GET /api/v1/account/users/{id}/conferences``)."""
    account_id = administered_account(caller)
    store = store_of(request)
    with answering(missing=NO_SUCH_USER, hide_denied=True):
        user_id = store.users.add_user(
            caller.actor,
            account_id,
            Role(body.role),
            body.name.strip(),
            email=body.email or None,
            phone=body.phone or None,
            password=body.password,
        )
        return _view_out(store.accounts.get_user(caller.actor, user_id))


@router.get("/account/users/{user_id}", response_model=UserOut)
def get_user(user_id: str, caller: CallerDep, request: Request) -> UserOut:
    account_id = administered_account(caller)
    store = store_of(request)
    _member(store, caller, account_id, user_id)
    [found] = [s for s in store.users.list_users(caller.actor, account_id) if s.id == user_id]
    return _summary_out(found)


@router.patch("/account/users/{user_id}", response_model=UserOut)
def edit_user(user_id: str, body: UserPatch, caller: CallerDep, request: Request) -> UserOut:
    """Change a user's role, name, email, phone or password (never shown again)."""
    account_id = administered_account(caller)
    store = store_of(request)
    _member(store, caller, account_id, user_id)
    if (
        body.role is not None
        and user_id == caller.principal.user_id
        and body.role != "administrator"
    ):
        raise HTTPException(
            status.HTTP_409_CONFLICT, "you cannot take away your own administration"
        )
    with answering(missing=NO_SUCH_USER, hide_denied=True):
        view = store.users.update_user(
            caller.actor,
            user_id,
            name=body.name,
            email=body.email,
            phone=body.phone,
            role=Role(body.role) if body.role else None,
        )
        if body.password is not None:  # ends every session the old one opened
            store.users.set_password(caller.actor, user_id, body.password)
    return _view_out(view)


def _not_yourself(caller: Caller, user_id: str, what: str) -> None:
    if user_id == caller.principal.user_id:
        raise HTTPException(status.HTTP_409_CONFLICT, f"you cannot {what} yourself")


@router.post("/account/users/{user_id}/suspend", response_model=UserOut)
def suspend_user(user_id: str, caller: CallerDep, request: Request) -> UserOut:
    """Suspend: no sign-in, no token, no calls into their conferences; sessions end now."""
    account_id = administered_account(caller)
    store = store_of(request)
    _member(store, caller, account_id, user_id)
    _not_yourself(caller, user_id, "suspend")
    with answering(missing=NO_SUCH_USER, hide_denied=True):
        store.users.set_suspended(caller.actor, user_id, True)
        return _view_out(store.accounts.get_user(caller.actor, user_id))


@router.post("/account/users/{user_id}/resume", response_model=UserOut)
def resume_user(user_id: str, caller: CallerDep, request: Request) -> UserOut:
    account_id = administered_account(caller)
    store = store_of(request)
    _member(store, caller, account_id, user_id)
    with answering(missing=NO_SUCH_USER, hide_denied=True):
        store.users.set_suspended(caller.actor, user_id, False)
        return _view_out(store.accounts.get_user(caller.actor, user_id))


@router.delete("/account/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_user(user_id: str, caller: CallerDep, request: Request) -> Response:
    """Remove a user: their name, email, phone, password and second factor are erased, their
    tokens revoked and sessions ended; their conferences take no more calls."""
    account_id = administered_account(caller)
    store = store_of(request)
    _member(store, caller, account_id, user_id)
    _not_yourself(caller, user_id, "remove")
    with answering(missing=NO_SUCH_USER, hide_denied=True):
        store.users.remove_user(caller.actor, user_id)
    _hide_profile_on_calls(request, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _hide_profile_on_calls(request: Request, user_id: str) -> None:
    """A removed user's public profile (cleared from the store with the rest of them) goes
    from every roster of a call they are on now, too: on the bridge's loop, which this sync
    route's worker thread reaches through anyio. Other nodes' bridges follow within a poll
    (io/profile_watch.py): the stored profile's version is now ``REMOVED``."""
    bridge = getattr(request.app.state, "bridge", None)
    if isinstance(bridge, BridgeService):
        from_thread.run_sync(bridge.set_profiles_of, user_id, None, REMOVED)


@router.get("/account/users/{user_id}/conferences", response_model=list[ConferenceHistoryOut])
def user_conferences(
    user_id: str, caller: CallerDep, request: Request
) -> list[ConferenceHistoryOut]:
    """A host's conferences, newest first, with how many legs joined and when last; their
    PINs and links for an administrator, never for an API key (they admit to the call)."""
    account_id = administered_account(caller)
    store = store_of(request)
    _member(store, caller, account_id, user_id)
    shown = not is_account_key(caller)
    return [_history_out(h, shown) for h in store.users.conference_history(caller.actor, user_id)]


@router.delete("/account/conferences/{conference_id}/history")
def delete_conference_history(
    conference_id: str, caller: CallerDep, request: Request
) -> dict[str, int]:
    """Delete who was on a conference's past calls (names and numbers of its legs)."""
    account_id = administered_account(caller)
    store = store_of(request)
    try:
        view = store.conferences.get_conference(caller.actor, conference_id)
    except UNSEEN:
        view = None
    if view is None or view.account_id != account_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conference")
    return {"deleted": store.users.delete_conference_history(caller.actor, conference_id)}


@router.delete("/account/contacts", status_code=status.HTTP_200_OK)
def delete_contacts(caller: CallerDep, request: Request) -> dict[str, int]:
    """Delete the account's whole contact list (used for name resolution)."""
    account_id = administered_account(caller)
    return {"deleted": store_of(request).users.delete_contacts(caller.actor, account_id)}


# -- one's own profile and delegates ----------------------------------------------------------
def _signed_in_user(caller: Caller) -> str:
    if caller.guest_of is not None or caller.principal.user_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this is for a user of the account")
    return caller.principal.user_id


@router.patch("/me", response_model=UserOut)
def edit_profile(body: ProfilePatch, caller: CallerDep, request: Request) -> UserOut:
    """Change your own name or phone (the phone click-to-call rings first)."""
    user_id = _signed_in_user(caller)
    require_scope(caller, "legs:control")
    with answering(missing=NO_SUCH_USER, hide_denied=True):
        view = store_of(request).users.update_user(
            caller.actor, user_id, name=body.name, phone=body.phone
        )
    return _view_out(view)


def _host(caller: Caller) -> str:
    """The caller, if they are a host (or administrator) who may delegate."""
    user_id = _signed_in_user(caller)
    if caller.principal.role not in (Role.HOST, Role.ADMINISTRATOR):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a host may authorise delegates")
    require_scope(caller, "legs:control")
    return user_id


@router.get("/me/delegates", response_model=list[UserOut])
def list_delegates(caller: CallerDep, request: Request) -> list[UserOut]:
    """Who may manage your conferences."""
    host_id = _host(caller)
    return [_summary_out(s) for s in store_of(request).users.delegates_of(caller.actor, host_id)]


@router.post("/me/delegates", response_model=list[UserOut], status_code=status.HTTP_201_CREATED)
def add_delegate(body: DelegateIn, caller: CallerDep, request: Request) -> list[UserOut]:
    """Authorise a delegate (a user of your account with the delegate role)."""
    host_id = _host(caller)
    store = store_of(request)
    _member(store, caller, caller.principal.account_id, body.user_id)
    _, role = store.accounts.user_account_and_role(body.user_id)
    if role != Role.DELEGATE:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "that user is not a delegate")
    with answering(missing=NO_SUCH_USER, hide_denied=True):
        store.accounts.delegate(caller.actor, host_id, body.user_id)
    return [_summary_out(s) for s in store.users.delegates_of(caller.actor, host_id)]


@router.delete("/me/delegates/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_delegate(user_id: str, caller: CallerDep, request: Request) -> Response:
    host_id = _host(caller)
    if not store_of(request).users.undelegate(caller.actor, host_id, user_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "that user is not your delegate")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- a conference's PIN ------------------------------------------------------------------------
@router.post("/conferences/{conference_id}/pin", response_model=PinOut)
async def reset_pin(conference_id: str, caller: CallerDep, request: Request) -> PinOut:
    """Give the conference a new guest PIN (the host or a delegate); the old one stops. The
    answer holds the PIN, so an API key may not (as it may not read it)."""
    store = store_of(request)

    def reset() -> str:
        authorised_conference(store, caller, conference_id, "legs:control")
        require_person(caller, "reset a conference's PIN")
        return store.conferences.reset_pin(caller.actor, conference_id)

    return PinOut(pin=await asyncio.to_thread(reset))
