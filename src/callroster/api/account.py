"""The account's own administration over the API: its API keys, its PIN lengths, its SRTP
policy and its audit log.

Administrators of the caller's account only, with the ``admin`` scope (401 without a
credential, 403 for hosts, delegates, guests and keys without ``admin``). An API key is the
account's, not one user's: it acts as an administrator of the account limited to its scopes
(``roster:read``, ``legs:control``, ``recordings:read``, ``admin``). The key is shown once, in
the answer to the POST that made it; only its SHA-256 is kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from callroster.accounts.actor import Role
from callroster.api.auth import Caller, authenticated, require_scope, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.store.accounts import PinLengths
from callroster.store.models import AuditEntry

router = APIRouter(prefix="/api/v1/account", tags=["account"], route_class=CredentialsFirst)
CallerDep = Annotated[Caller, Depends(authenticated)]
NO_STORE = {"Cache-Control": "no-store"}
Scope = Literal["roster:read", "legs:control", "recordings:read", "admin"]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=64, description="who or what the key is for")
    scopes: list[Scope] = Field(min_length=1, max_length=4)


class ApiKeyOut(BaseModel):
    id: str
    user_id: str | None = Field(description="None: a key of the account, not of one user")
    label: str
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(BaseModel):
    id: str
    key: str = Field(description="send as 'Authorization: Bearer <key>'; shown this once")
    label: str
    scopes: list[str]


class PinLengthsIn(BaseModel):
    """How many digits the account's new PINs have. The host's is longer than the guest's,
    so a caller keying one is never taken for keying the other (see docs/architecture.md)."""

    model_config = ConfigDict(extra="forbid")
    guest: int = Field(ge=6, le=12, description="digits of a new guest PIN (6 to 12)")
    host: int = Field(ge=8, le=12, description="digits of a new host PIN (8 to 12, > guest)")


class SrtpPolicyIn(BaseModel):
    """Whether the account's conferences take clear-text phone calls."""

    model_config = ConfigDict(extra="forbid")
    srtp: Literal["offered", "required"] = Field(
        description="offered: SRTP for every caller who offers it over TLS (sips:), plain RTP"
        " for the rest; required: only callers over TLS with SRTP get on (others are refused"
        " with 488, or told and hung up once their PIN shows the account)"
    )


class SrtpPolicyOut(BaseModel):
    srtp: Literal["offered", "required"]


class PinLengthsOut(BaseModel):
    guest: int
    host: int
    applies_to: Literal["pins made from now on"] = "pins made from now on"


class AuditEntryOut(BaseModel):
    """Who did what, when, from where and why. Subjects are ids, never names or numbers."""

    seq: int
    at: dt.datetime
    actor: str
    action: str
    subject: str
    source: str
    reason: str


def audit_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        subject=entry.subject,
        source=entry.source,
        reason=entry.reason,
    )


def administered_account(caller: Caller) -> str:
    """The caller's account, if the caller administers it with the ``admin`` scope."""
    if caller.guest_of is not None or caller.principal.role != Role.ADMINISTRATOR:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only an administrator of the account may do this"
        )
    require_scope(caller, "admin")
    return caller.principal.account_id


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(
    body: ApiKeyIn, caller: CallerDep, request: Request, response: Response
) -> ApiKeyCreated:
    """Make an API key for the account with the scopes given. The key is in this answer
    only: keep it now."""
    account_id = administered_account(caller)
    store = store_of(request)
    scopes: set[str] = set(body.scopes)
    key_id, key = store.tokens.create(caller.actor, account_id, None, scopes, body.label.strip())
    response.headers.update(NO_STORE)
    return ApiKeyCreated(id=key_id, key=key, label=body.label.strip(), scopes=sorted(scopes))


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(caller: CallerDep, request: Request) -> list[ApiKeyOut]:
    """The account's keys and its users' tokens, newest first, with when each was last
    used; never a key itself."""
    account_id = administered_account(caller)
    views = store_of(request).tokens.for_account(caller.actor, account_id)
    return [
        ApiKeyOut(
            id=v.id,
            user_id=v.user_id,
            label=v.label,
            scopes=list(v.scopes),
            created_at=v.created_at,
            last_used_at=v.last_used_at,
            revoked_at=v.revoked_at,
        )
        for v in views
    ]


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: str, caller: CallerDep, request: Request) -> Response:
    """Revoke a key (or a user's token) of the account: it opens nothing from now on."""
    account_id = administered_account(caller)
    if not store_of(request).tokens.revoke(caller.actor, key_id, account_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such API key in this account")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/pin-lengths", response_model=PinLengthsOut)
def get_pin_lengths(caller: CallerDep, request: Request) -> PinLengthsOut:
    """How many digits the account's new guest and host PINs have."""
    account_id = administered_account(caller)
    lengths = store_of(request).accounts.pin_lengths(caller.actor, account_id)
    return PinLengthsOut(guest=lengths.guest, host=lengths.host)


@router.put("/pin-lengths", response_model=PinLengthsOut)
def set_pin_lengths(body: PinLengthsIn, caller: CallerDep, request: Request) -> PinLengthsOut:
    """Set the lengths of the PINs made from now on (new conferences, PIN resets). PINs
    that exist keep their length and keep working; a conference gets the new length when
    its PIN is reset. Audit-logged (``account.pin_lengths``)."""
    account_id = administered_account(caller)
    try:
        lengths = PinLengths(guest=body.guest, host=body.host)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    store_of(request).accounts.set_pin_lengths(caller.actor, account_id, lengths)
    return PinLengthsOut(guest=lengths.guest, host=lengths.host)


@router.get("/srtp", response_model=SrtpPolicyOut)
def get_srtp_policy(caller: CallerDep, request: Request) -> SrtpPolicyOut:
    """The account's SRTP policy for phone calls: ``offered`` (the default) or ``required``."""
    account_id = administered_account(caller)
    policy = store_of(request).accounts.srtp_policy(caller.actor, account_id)
    return SrtpPolicyOut(srtp="required" if policy == "required" else "offered")


@router.put("/srtp", response_model=SrtpPolicyOut)
def set_srtp_policy(body: SrtpPolicyIn, caller: CallerDep, request: Request) -> SrtpPolicyOut:
    """Set the SRTP policy; it applies from the next call (a caller already on stays).
    Audit-logged (``account.srtp``)."""
    account_id = administered_account(caller)
    store_of(request).accounts.set_srtp_policy(caller.actor, account_id, body.srtp)
    return SrtpPolicyOut(srtp=body.srtp)


@router.get("/audit", response_model=list[AuditEntryOut])
def account_audit(
    caller: CallerDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    """The account's audit log, newest first: every read or change of its personal data
    and every control action, with who, when, from where and why."""
    account_id = administered_account(caller)
    audit = store_of(request).audit
    entries = audit.entries(account_id, limit)
    audit.log(caller.actor, "audit.read", f"account:{account_id}", account_id)
    return [audit_out(entry) for entry in entries]
