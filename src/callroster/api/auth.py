"""Who is calling the API: a bearer token becomes an ``Actor`` carrying role, account, source
address and the request as its reason (for the audit log)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import HTTPException, Request, WebSocket, status

from callroster.accounts.actor import Actor, Role
from callroster.store.store import Store
from callroster.store.tokens import PREFIX as TOKEN_PREFIX
from callroster.store.tokens import TokenPrincipal


@dataclass(frozen=True)
class Caller:
    actor: Actor
    principal: TokenPrincipal
    guest_of: str | None = None  # the conference a guest's link opens; None for users


def store_of(request: Request | WebSocket) -> Store:
    store = request.app.state.store
    assert isinstance(store, Store)
    return store


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def caller_for_token(store: Store, token: str, source: str, reason: str) -> Caller | None:
    """The caller a bearer token stands for, or None if it is not a valid token."""
    principal = store.tokens.authenticate(token)
    if principal is None:
        return None
    actor = Actor(
        actor_id=principal.user_id or f"token:{principal.token_id}",
        role=principal.role,
        account_id=principal.account_id,
        source=source,
        reason=reason,
    )
    return Caller(actor, principal)


def guest_for_link(store: Store, link: str, source: str, reason: str) -> Caller | None:
    """A guest holding a conference's link: may watch that conference's roster, no more."""
    target = store.conferences.find_by_web_link(link) if 0 < len(link) <= 64 else None
    if target is None:
        return None
    conference_id, account_id = target
    principal = TokenPrincipal("link", account_id, None, Role.GUEST, frozenset({"roster:read"}))
    actor = Actor(f"link:{link[:6]}", Role.GUEST, account_id, source, reason)
    return Caller(actor, principal, guest_of=conference_id)


def caller_for_credential(store: Store, credential: str, source: str, reason: str) -> Caller | None:
    """A bearer token (``cr_…``) of a user, or a conference link of a guest."""
    if credential.startswith(TOKEN_PREFIX):
        return caller_for_token(store, credential, source, reason)
    return guest_for_link(store, credential, source, reason)


def authenticated(request: Request) -> Caller:
    token = bearer_token(request.headers)
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in or send a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    source = request.client.host if request.client else "unknown"
    caller = caller_for_credential(
        store_of(request), token, source, f"{request.method} {request.url.path}"
    )
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this token is not valid",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller
