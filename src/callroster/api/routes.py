"""API v1: who am I; a conference's join details; creating, renaming and deleting
conferences (a host for themselves, a delegate for the hosts who authorised them, an
administrator for any host of the account)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from callroster.accounts.actor import Role
from callroster.api.auth import Caller, authenticated, is_account_key, require_scope, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import UNSEEN, answering
from callroster.store.conferences import MAX_TITLE, ConferenceView
from callroster.store.store import Store

router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]


class Me(BaseModel):
    id: str
    account_id: str
    role: str
    name: str
    email: str | None


class DialInOut(BaseModel):
    """An access number of the number plan, as invitations and pages show it."""

    number: str = Field(description="E.164 (+442079460000), or a SIP-only extension")
    country: str
    kind: str = Field(description="toll, toll_free, or sip (no telephone number)")
    label: str | None


class ConferenceOut(BaseModel):
    id: str
    title: str
    dial_in_numbers: list[str]
    dial_in_uris: list[str]
    dial_ins: list[DialInOut] = Field(
        default_factory=list,
        description="the same numbers with their country, kind and label, by country",
    )
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


class ConferenceIn(BaseModel):
    """A conference to create: its name, and whose (by default the caller's; a delegate
    authorised by one host, that host's)."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    host_id: str | None = Field(default=None, max_length=36)


class ConferencePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=MAX_TITLE)


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
    view = authorised_conference(store_of(request), caller, conference_id)
    return _conference_out(request, caller, view)


def _conference_out(request: Request, caller: Caller, view: ConferenceView) -> ConferenceOut:
    settings = request.app.state.settings
    shown, host_pin_shown = may_see_join_secrets(caller, view)
    sip_host = f"{settings.host_for_links}:{settings.sip_port}"
    return ConferenceOut(
        id=view.id,
        title=view.title,
        dial_in_numbers=list(view.dial_in_numbers),
        dial_in_uris=[f"sip:{n}@{sip_host}" for n in view.dial_in_numbers],
        dial_ins=[
            DialInOut(number=n.number, country=n.country, kind=n.kind, label=n.label)
            for n in view.numbers
        ],
        pin=view.pin if shown else None,
        host_pin=view.host_pin if host_pin_shown else None,
        web_url=f"{settings.web_base_url}/c/{view.web_link}" if shown else None,
    )


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


def host_for_new_conference(store: Store, caller: Caller, host_id: str | None) -> str:
    """Whose a new conference is: the caller's own (a host or an administrator), or, for a
    delegate, the host who authorised them (``host_id`` when more than one did); an
    administrator names any host of the account. Refused (403) to keys and guests: the
    answer holds the PINs."""
    principal = caller.principal
    if caller.guest_of is not None or principal.user_id is None:
        raise _forbidden("a conference is created by a host, their delegate or an administrator")
    require_scope(caller, "legs:control")
    delegated = (
        store.accounts.hosts_delegated_to(principal.user_id)
        if principal.role == Role.DELEGATE
        else []
    )
    if host_id is None:
        if principal.role != Role.DELEGATE:
            return principal.user_id
        if len(delegated) == 1:
            return delegated[0]
        if not delegated:
            raise _forbidden("a delegate creates conferences for a host who authorised them")
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give host_id: which host it is for"
        )
    try:
        account_id, role = store.accounts.user_account_and_role(host_id)
    except UNSEEN:
        account_id, role = "", Role.GUEST
    if account_id != principal.account_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such host")
    if role not in (Role.HOST, Role.ADMINISTRATOR):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "that user is not a host")
    if host_id == principal.user_id or principal.role == Role.ADMINISTRATOR:
        return host_id
    if host_id in delegated:
        return host_id
    raise _forbidden("only the host, a delegate or an administrator may do this")


@router.post("/conferences", response_model=ConferenceOut, status_code=status.HTTP_201_CREATED)
def create_conference(body: ConferenceIn, caller: CallerDep, request: Request) -> ConferenceOut:
    """Create a named conference with a new guest PIN, host PIN and room link (from a
    CSPRNG, at the account's PIN lengths, none begun by another or retired lately); it shows
    the account's dial-in numbers. 422 for a bad name."""
    store = store_of(request)
    host_id = host_for_new_conference(store, caller, body.host_id)
    with answering():
        conference_id = store.conferences.create_conference(caller.actor, host_id, body.title)
    return _conference_out(
        request, caller, store.conferences.get_conference(caller.actor, conference_id)
    )


@router.patch("/conferences/{conference_id}", response_model=ConferenceOut)
def rename_conference(
    conference_id: str, body: ConferencePatch, caller: CallerDep, request: Request
) -> ConferenceOut:
    """Rename a conference (its host, their delegates, administrators)."""
    store = store_of(request)
    authorised_conference(store, caller, conference_id, "legs:control")
    with answering():
        store.conferences.rename_conference(caller.actor, conference_id, body.title)
    return _conference_out(
        request, caller, store.conferences.get_conference(caller.actor, conference_id)
    )


@router.delete("/conferences/{conference_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_conference(conference_id: str, caller: CallerDep, request: Request) -> Response:
    """Delete a conference with who was on its calls; its PINs are retired for the
    cooling-off period. 409 while someone is on its call."""
    store = store_of(request)
    authorised_conference(store, caller, conference_id, "legs:control")
    bridge = getattr(request.app.state, "bridge", None)
    if bridge is not None and conference_id in bridge.conferences_in_progress():
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this conference is in progress: it can be deleted once everyone has left",
        )
    with answering():  # someone on its call by the store's record: 409 too
        store.conferences.delete_conference(caller.actor, conference_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
