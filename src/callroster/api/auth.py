"""Who is calling the API: a bearer token, or the session cookie of a signed-in browser,
becomes an ``Actor`` carrying role, account, source address and the request as its reason
(for the audit log).

A request authenticated by the session cookie that changes something (POST, PUT, PATCH,
DELETE) must also send the session's CSRF token in ``X-CSRF-Token`` (pages rendered for a
signed-in user carry it in ``<meta name="csrf-token">``; ``GET /api/v1/session`` returns it):
a browser sends the cookie on its own, but another site cannot read the token. Bearer-token
requests need no CSRF token: no browser attaches them by itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import HTTPException, Request, WebSocket, status

from callroster.accounts.actor import Actor, Role
from callroster.store.operator_tokens import PREFIX as OPERATOR_PREFIX
from callroster.store.sessions import PREFIX as SESSION_PREFIX
from callroster.store.sessions import csrf_matches
from callroster.store.store import Store
from callroster.store.tokens import PREFIX as TOKEN_PREFIX
from callroster.store.tokens import TokenPrincipal

SESSION_COOKIE = "callroster_session"
# Where a request keeps who its credential was found to be (its ASGI scope).
_KNOWN_CALLER = "callroster.caller"
_KNOWN_OPERATOR = "callroster.operator"
CSRF_HEADER = "x-csrf-token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a signed-in browser may do: everything its user's role allows.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.ADMINISTRATOR: frozenset({"admin", "roster:read", "legs:control", "recordings:read"}),
    Role.HOST: frozenset({"roster:read", "legs:control", "recordings:read"}),
    Role.DELEGATE: frozenset({"roster:read", "legs:control", "recordings:read"}),
}


# The scopes an API key can carry. ``admin`` covers the others: it is the account's own.
SCOPES = ("roster:read", "legs:control", "recordings:read", "admin")


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


def caller_for_session(store: Store, token: str, source: str, reason: str) -> Caller | None:
    """The user a signed-in browser's session stands for, as their bearer token would: None
    when the session is unknown, expired, or still waits for its second factor. Each use
    slides the session's idle limit."""
    view = store.web_sessions.authenticate(token)
    if view is None or not view.complete:
        return None
    principal = TokenPrincipal(
        f"session:{view.id[:12]}",
        view.account_id,
        view.user_id,
        view.role,
        ROLE_SCOPES.get(view.role, frozenset()),
    )
    actor = Actor(view.user_id, view.role, view.account_id, source, reason)
    return Caller(actor, principal)


def websocket_session(websocket: WebSocket) -> str | None:
    """The session cookie of a WebSocket opened by a page of this site, else None.

    A browser sends cookies on a WebSocket handshake from any site, so the cookie counts only
    when the ``Origin`` is this service's own (a WebSocket has no CSRF token).
    """
    token = websocket.cookies.get(SESSION_COOKIE)
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if not token or not origin or not host:
        return None
    scheme, _, rest = origin.partition("://")
    return token if scheme in ("http", "https") and rest == host else None


def guest_for_link(store: Store, link: str, source: str, reason: str) -> Caller | None:
    """A guest holding a conference's link: may watch that conference's roster, no more."""
    target = store.conferences.find_by_web_link(link) if 0 < len(link) <= 64 else None
    if target is None:
        return None
    conference_id, account_id = target
    if store.onboarding.status(account_id) != "active":  # suspended or terminated
        return None
    principal = TokenPrincipal("link", account_id, None, Role.GUEST, frozenset({"roster:read"}))
    actor = Actor(f"link:{link[:6]}", Role.GUEST, account_id, source, reason)
    return Caller(actor, principal, guest_of=conference_id)


def caller_for_credential(store: Store, credential: str, source: str, reason: str) -> Caller | None:
    """A bearer token (``cr_…``) of a user, a session (``crs_…``, from the cookie of a
    signed-in browser: see ``websocket_session``), or a conference link of a guest."""
    if credential.startswith(TOKEN_PREFIX):
        return caller_for_token(store, credential, source, reason)
    if credential.startswith(SESSION_PREFIX):
        return caller_for_session(store, credential, source, reason)
    return guest_for_link(store, credential, source, reason)


def authenticated(request: Request) -> Caller:
    """The caller behind a bearer token or, without one, behind the session cookie. Found
    once per request and kept on it: ``api/credentials_first.py`` asks before the body is
    read, FastAPI again when it solves the route's dependencies."""
    known = request.scope.get(_KNOWN_CALLER)
    if isinstance(known, Caller):
        return known
    caller = _authenticate(request)
    request.scope[_KNOWN_CALLER] = caller
    return caller


def _authenticate(request: Request) -> Caller:
    token = bearer_token(request.headers)
    source = request.client.host if request.client else "unknown"
    if token is None:
        session_token = request.cookies.get(SESSION_COOKIE)
        if not session_token:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "sign in or send a bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if request.method in STATE_CHANGING and not csrf_matches(
            session_token, request.headers.get(CSRF_HEADER)
        ):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "a request signed in by cookie that changes something needs X-CSRF-Token",
            )
        session_caller = caller_for_session(
            store_of(request), session_token, source, f"{request.method} {request.url.path}"
        )
        if session_caller is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "your session has ended: sign in again",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return session_caller
    if token.startswith(OPERATOR_PREFIX):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "an operator token opens the operator API (/api/v1/operator/...) only",
        )
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


def signed_in_beside(request: Request) -> Caller | None:
    """The user whose session cookie goes with a request authenticated otherwise (a guest's
    conference link), when the request also carries the session's CSRF token: so a page of
    this site, never another site, says who the signed-in person is. None otherwise."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not csrf_matches(token, request.headers.get(CSRF_HEADER)):
        return None
    source = request.client.host if request.client else "unknown"
    return caller_for_session(
        store_of(request), token, source, f"{request.method} {request.url.path}"
    )


def operator(request: Request) -> Actor:
    """The platform's operator behind an operator token (``cro_…``): 401 without a token or
    with one that is not live, 403 for any other valid credential (users, guests). Found
    once per request, as ``authenticated``."""
    known = request.scope.get(_KNOWN_OPERATOR)
    if isinstance(known, Actor):
        return known
    actor = _operator(request)
    request.scope[_KNOWN_OPERATOR] = actor
    return actor


def _operator(request: Request) -> Actor:
    token = bearer_token(request.headers)
    source = request.client.host if request.client else "unknown"
    reason = f"{request.method} {request.url.path}"
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send an operator token as a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    store = store_of(request)
    if token.startswith(OPERATOR_PREFIX):
        actor = store.operator_tokens.authenticate(token, source, reason)
        if actor is not None:
            return actor
    elif caller_for_credential(store, token, source, reason) is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the operator API is for operators only")
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "this token is not valid",
        headers={"WWW-Authenticate": "Bearer"},
    )


def is_account_key(caller: Caller) -> bool:
    """Whether the credential is an API key of the account (``user_id`` None), not a person:
    not a user's token or session, not a guest's link."""
    return caller.principal.user_id is None and caller.guest_of is None


def require_person(caller: Caller, what: str) -> None:
    """Refuses (403) an account's API key for work that is a person's (``what``: joining a
    call with audio, reading or resetting its PINs), whatever scopes the key carries: a key is
    a program's, and the role a person has on a call comes from who they are."""
    if is_account_key(caller):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"an API key cannot {what}: that is for people (the conference link, or a "
            "signed-in user of the conference)",
        )


def require_scope(caller: Caller, scope: str) -> None:
    """Refuses (403) a credential that was not given ``scope``; ``admin`` covers every scope.
    A signed-in browser carries every scope its user's role allows; a guest's link carries
    ``roster:read`` only."""
    scopes = caller.principal.scopes
    if scope not in scopes and "admin" not in scopes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this credential does not carry the {scope!r} scope"
        )
