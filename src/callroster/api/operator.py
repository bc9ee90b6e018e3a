"""The operator API: the SIP trunks dial-out calls leave through, and the whole audit log.

Operators only, by an operator token (``callroster operator-token create``): 401 without
one, 403 for users and guests. The same rules as ``callroster trunk add|list|remove``: a
trunk's password goes in and never comes out (answers say only whether one is set), and
every call is audit-logged by the trunk repository.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from callroster.accounts.actor import Actor
from callroster.api.account import AuditEntryOut, audit_out
from callroster.api.auth import operator, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import answering
from callroster.store.trunks import MAX_SECRET_LENGTH, URI_FORM, TrunkView

router = APIRouter(prefix="/api/v1/operator", tags=["operator"], route_class=CredentialsFirst)
OperatorDep = Annotated[Actor, Depends(operator)]


class TrunkIn(BaseModel):
    """A trunk to add: ``uri`` is ``sip:HOST[:PORT][;transport=udp|tcp]``; ``prefixes`` are
    the E.164 prefixes it serves (none: every number no other trunk's prefix serves)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    uri: str = Field(min_length=1, max_length=300, description=URI_FORM)
    username: str | None = Field(default=None, max_length=128)
    password: str | None = Field(default=None, max_length=MAX_SECRET_LENGTH)
    prefixes: list[str] = Field(default_factory=list, max_length=100)
    caller_id: str | None = Field(default=None, max_length=32)


class TrunkOut(BaseModel):
    """A trunk as the operator sees it: never its password, only whether one is set."""

    id: str
    name: str
    uri: str
    transport: str
    username: str | None
    has_password: bool
    prefixes: list[str]
    caller_id: str | None


def _out(view: TrunkView) -> TrunkOut:
    return TrunkOut(
        id=view.id,
        name=view.name,
        uri=view.uri,
        transport=view.transport,
        username=view.username,
        has_password=view.has_password,
        prefixes=list(view.prefixes),
        caller_id=view.caller_id,
    )


@router.get("/trunks", response_model=list[TrunkOut])
def list_trunks(actor: OperatorDep, request: Request) -> list[TrunkOut]:
    """Every trunk, by name."""
    return [_out(view) for view in store_of(request).trunks.list(actor)]


@router.post("/trunks", response_model=TrunkOut, status_code=status.HTTP_201_CREATED)
def add_trunk(body: TrunkIn, actor: OperatorDep, request: Request) -> TrunkOut:
    """Add a trunk; 422 with one clear message for a bad name, URI, credential, prefix or
    caller ID, 409 when the name is taken."""
    with answering():
        view = store_of(request).trunks.add(
            actor,
            body.name,
            body.uri,
            username=body.username,
            password=body.password,
            prefixes=body.prefixes,
            caller_id=body.caller_id,
        )
    return _out(view)


@router.delete("/trunks/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove_trunk(name: str, actor: OperatorDep, request: Request) -> Response:
    """Remove a trunk; call records that went through it are kept."""
    store_of(request).trunks.remove(actor, name)  # a NotFoundError answers 404 (api/errors)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/audit", response_model=list[AuditEntryOut])
def audit(
    actor: OperatorDep,
    request: Request,
    account_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    """The audit log of every account and of the platform (or of one account), newest
    first."""
    log = store_of(request).audit
    entries = log.entries(account_id, limit)
    log.log(actor, "audit.read", f"account:{account_id}" if account_id else "audit", account_id)
    return [audit_out(entry) for entry in entries]
