"""The operator API: the SIP trunks dial-out calls leave through, the number plan (the
access numbers people dial, and the accounts limited to some), and the whole audit log.

Operators only, by an operator token (``callroster operator-token create``): 401 without
one, 403 for users and guests. The same rules as ``callroster trunk add|list|remove``: a
trunk's password goes in and never comes out (answers say only whether one is set), and
every call is audit-logged by the trunk repository.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from callroster.accounts.actor import Actor
from callroster.api.account import AuditEntryOut, audit_out
from callroster.api.auth import operator, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import answering
from callroster.store.numbers import E164_FORM, NumberView
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


class NumberIn(BaseModel):
    """An access number to add. ``country`` and ``kind`` are checked against the number (and
    taken from it when left out)."""

    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=40, description=E164_FORM)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    kind: Literal["toll", "toll_free"] | None = None
    region: str | None = Field(default=None, max_length=32)
    label: str | None = Field(default=None, max_length=64)


class NumberOut(BaseModel):
    id: str
    number: str
    country: str
    kind: str
    region: str | None
    label: str | None
    accounts: int = Field(default=0, description="how many accounts are limited to it")


class AccountNumbersIn(BaseModel):
    """The numbers an account is limited to; an empty list lifts the limit (every number)."""

    model_config = ConfigDict(extra="forbid")
    numbers: list[str] = Field(max_length=200)


class AccountNumbersOut(BaseModel):
    account_id: str
    limited: bool
    numbers: list[str]


def _number_out(view: NumberView, accounts: int = 0) -> NumberOut:
    return NumberOut(
        id=view.id,
        number=view.number,
        country=view.country,
        kind=view.kind,
        region=view.region,
        label=view.label,
        accounts=accounts,
    )


@router.get("/numbers", response_model=list[NumberOut])
def list_numbers(actor: OperatorDep, request: Request) -> list[NumberOut]:
    """The number plan, by country, with how many accounts are limited to each number."""
    plan = store_of(request).numbers
    uses = plan.uses(actor)
    return [_number_out(v, len(uses.get(v.id, ()))) for v in plan.list_numbers(actor)]


@router.post("/numbers", response_model=NumberOut, status_code=status.HTTP_201_CREATED)
def add_number(body: NumberIn, actor: OperatorDep, request: Request) -> NumberOut:
    """Add an access number; 422 with one clear message for a number not in E.164 or a
    country or kind that does not fit it, 409 when it is in the plan already. A call to
    ``sip:<number>@<bridge>`` reaches the PIN prompt from then on."""
    with answering():
        view = store_of(request).numbers.add(
            actor,
            body.number,
            country=body.country,
            kind=body.kind,
            region=body.region,
            label=body.label,
        )
    return _number_out(view)


@router.delete("/numbers/{number}", status_code=status.HTTP_204_NO_CONTENT)
def remove_number(
    number: str,
    actor: OperatorDep,
    request: Request,
    force: Annotated[bool, Query(description="remove it from the accounts limited to it")] = False,
) -> Response:
    """Remove an access number; 409 while accounts are limited to it, unless ``force``."""
    store_of(request).numbers.remove(actor, number, force=force)  # 404, 409: api/errors
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/accounts/{account_id}/numbers", response_model=AccountNumbersOut)
def limit_account_numbers(
    account_id: str, body: AccountNumbersIn, actor: OperatorDep, request: Request
) -> AccountNumbersOut:
    """Limit an account's conferences to these numbers (none: every number). 404 for an
    account or a number that is not there; nothing changes then."""
    numbers = store_of(request).numbers.limit_account(actor, account_id, body.numbers)
    return AccountNumbersOut(account_id=account_id, limited=bool(numbers), numbers=numbers)


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
