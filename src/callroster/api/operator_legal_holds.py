"""The operator API for legal holds (issue 15): list, place and release. A held conference,
host or account is neither hidden nor purged by retention until the hold is released; the
release lets retention apply again at once (what is past its time is hidden immediately and
purged at the next run).

Operators only, by an operator token (as ``api/operator_accounts.py``): 401 without one,
403 for users and guests. Every call is audit-logged by ``store.legal_holds``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from callroster.accounts.actor import Actor
from callroster.api.auth import operator, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import answering
from callroster.store.legal_holds import REASON_LIMIT, LegalHoldView

router = APIRouter(
    prefix="/api/v1/operator/legal-holds", tags=["operator"], route_class=CredentialsFirst
)
OperatorDep = Annotated[Actor, Depends(operator)]


class LegalHoldIn(BaseModel):
    """What to hold: a conference, a host (their conferences and the calls they placed) or
    an account, by id; ``reason`` is the case reference (no names)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["conference", "host", "account"]
    target_id: str = Field(min_length=1, max_length=36)
    reason: str = Field(min_length=1, max_length=REASON_LIMIT)


class LegalHoldOut(BaseModel):
    id: str
    kind: str
    target_id: str
    account_id: str
    reason: str
    created_by: str
    created_at: dt.datetime


def _out(view: LegalHoldView) -> LegalHoldOut:
    return LegalHoldOut(
        id=view.id,
        kind=view.kind,
        target_id=view.target_id,
        account_id=view.account_id,
        reason=view.reason,
        created_by=view.created_by,
        created_at=view.created_at,
    )


@router.get("", response_model=list[LegalHoldOut])
def list_holds(actor: OperatorDep, request: Request) -> list[LegalHoldOut]:
    """Every legal hold, oldest first."""
    return [_out(view) for view in store_of(request).legal_holds.list(actor)]


@router.post("", response_model=LegalHoldOut, status_code=status.HTTP_201_CREATED)
def place_hold(body: LegalHoldIn, actor: OperatorDep, request: Request) -> LegalHoldOut:
    """Place a hold. 404 when there is no such conference, host or account; 409 when it is
    already held."""
    with answering():
        view = store_of(request).legal_holds.place(actor, body.kind, body.target_id, body.reason)
    return _out(view)


@router.delete("/{hold_id}", status_code=status.HTTP_204_NO_CONTENT)
def release_hold(hold_id: str, actor: OperatorDep, request: Request) -> Response:
    """Release a hold; 404 when there is none with this id."""
    if not store_of(request).legal_holds.release(actor, hold_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such legal hold")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
