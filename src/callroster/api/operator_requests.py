"""The operator API for data-subject requests (issue 15): the queue with each request's
statutory deadline and whether it is overdue, and the decision on a rectification or an
erasure (approve, or refuse with a reason). Operators only, by an operator token (401
without one, 403 for users and guests). No address or name is ever in an answer. Every call
is audit-logged by ``store.privacy_requests``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from callroster.accounts.actor import Actor
from callroster.api.auth import operator, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import answering
from callroster.store.privacy_decisions import decide
from callroster.store.privacy_requests import RequestView

router = APIRouter(
    prefix="/api/v1/operator/requests", tags=["operator"], route_class=CredentialsFirst
)
OperatorDep = Annotated[Actor, Depends(operator)]


class RequestOut(BaseModel):
    """A request in the queue. ``due_at``: the statutory deadline; ``overdue``: still open
    past it. ``refusal``: the operator's reason, when refused. ``outcome``: what was done
    (counts only)."""

    id: str
    kind: str
    channel: str
    status: str
    received_at: dt.datetime
    due_at: dt.datetime
    overdue: bool
    verified_at: dt.datetime | None
    decided_at: dt.datetime | None
    decided_by: str | None
    refusal: str | None
    outcome: str | None


class RefusalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


def _out(view: RequestView) -> RequestOut:
    return RequestOut(
        id=view.id,
        kind=view.kind.value,
        channel=view.channel.value,
        status=view.status.value,
        received_at=view.received_at,
        due_at=view.due_at,
        overdue=view.overdue,
        verified_at=view.verified_at,
        decided_at=view.decided_at,
        decided_by=view.decided_by,
        refusal=view.refusal,
        outcome=view.outcome,
    )


def _one(request: Request, actor: Actor, request_id: str) -> RequestOut:
    found = [v for v in store_of(request).privacy_requests.list(actor) if v.id == request_id]
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such request")
    return _out(found[0])


@router.get("", response_model=list[RequestOut])
def list_requests(actor: OperatorDep, request: Request) -> list[RequestOut]:
    """Verified requests, oldest deadline first."""
    return [_out(view) for view in store_of(request).privacy_requests.list(actor)]


@router.post("/{request_id}/approve", response_model=RequestOut)
def approve(request_id: str, actor: OperatorDep, request: Request) -> RequestOut:
    """Approve a rectification (the corrected name is written) or an erasure (the person is
    erased everywhere). 404 when no such request waits for a decision."""
    with answering(missing="no such request waiting for a decision"):
        decide(store_of(request), actor, request_id[:36], approve=True)
    return _one(request, actor, request_id)


@router.post("/{request_id}/refuse", response_model=RequestOut)
def refuse(request_id: str, body: RefusalIn, actor: OperatorDep, request: Request) -> RequestOut:
    """Refuse a rectification or an erasure, with a reason (kept, shown in the queue; not
    in the audit log). 404 when no such request waits for a decision."""
    with answering(missing="no such request waiting for a decision"):
        decide(store_of(request), actor, request_id[:36], approve=False, why=body.reason)
    return _one(request, actor, request_id)
