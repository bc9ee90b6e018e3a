"""Who is calling the API: a bearer token becomes an ``Actor`` carrying role, account, source
address and the request as its reason (for the audit log)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from callroster.accounts.actor import Actor
from callroster.store.store import Store
from callroster.store.tokens import TokenPrincipal


@dataclass(frozen=True)
class Caller:
    actor: Actor
    principal: TokenPrincipal


def store_of(request: Request) -> Store:
    store = request.app.state.store
    assert isinstance(store, Store)
    return store


def authenticated(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in or send a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = store_of(request).tokens.authenticate(token.strip())
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this token is not valid",
            headers={"WWW-Authenticate": "Bearer"},
        )
    source = request.client.host if request.client else "unknown"
    actor = Actor(
        actor_id=principal.user_id or f"token:{principal.token_id}",
        role=principal.role,
        account_id=principal.account_id,
        source=source,
        reason=f"{request.method} {request.url.path}",
    )
    return Caller(actor, principal)
