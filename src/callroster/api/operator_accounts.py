"""The operator API for customer accounts: create one (its first administrator's one-time
set-up link is in the answer, and only there), list them, suspend, resume and terminate, and
give a new set-up link when the first was lost or expired.

Operators only, by an operator token (as ``api/operator.py``): 401 without one, 403 for
users and guests. The list carries no personal data beyond the account's name; every call
is audit-logged by ``store.onboarding``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from callroster.accounts.actor import Actor
from callroster.api.auth import operator, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import answering
from callroster.config import REGIONS, Settings
from callroster.store.onboarding import (
    NAME_LIMIT,
    AccountAction,
    AccountSummary,
    CreatedAccount,
)

router = APIRouter(
    prefix="/api/v1/operator/accounts", tags=["operator"], route_class=CredentialsFirst
)
OperatorDep = Annotated[Actor, Depends(operator)]


def setup_url(settings: Settings, token: str) -> str:
    """The administrator's set-up link, on this service's own address."""
    return f"{settings.web_base_url}/setup/{token}"


def settings_of(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


class AccountIn(BaseModel):
    """An account to create. ``region`` is one of the service's regions."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_LIMIT)
    region: str = Field(description=", ".join(REGIONS), max_length=32)
    admin_email: str = Field(min_length=3, max_length=320)


class AccountCreatedOut(BaseModel):
    """The new account and its administrator's set-up link: shown this once, never again."""

    id: str
    setup_link: str
    setup_link_expires_at: dt.datetime


class AccountOut(BaseModel):
    """An account as the operator sees it: no personal data beyond its name (null once
    shredded)."""

    id: str
    name: str | None
    region: str
    status: str
    hosts: int
    conferences_this_month: int
    created_at: dt.datetime
    terminated_at: dt.datetime | None


def _out(summary: AccountSummary) -> AccountOut:
    return AccountOut(
        id=summary.id,
        name=summary.name,
        region=summary.region,
        status=summary.status.value,
        hosts=summary.hosts,
        conferences_this_month=summary.conferences_this_month,
        created_at=summary.created_at,
        terminated_at=summary.terminated_at,
    )


def _created(request: Request, created: CreatedAccount) -> AccountCreatedOut:
    return AccountCreatedOut(
        id=created.account_id,
        setup_link=setup_url(settings_of(request), created.setup_token),
        setup_link_expires_at=created.setup_expires_at,
    )


@router.get("", response_model=list[AccountOut])
def list_accounts(actor: OperatorDep, request: Request) -> list[AccountOut]:
    """Every account, oldest first: name, region, status, hosts, conferences this month."""
    return [_out(summary) for summary in store_of(request).onboarding.list_accounts(actor)]


@router.post("", response_model=AccountCreatedOut, status_code=status.HTTP_201_CREATED)
def create_account(body: AccountIn, actor: OperatorDep, request: Request) -> AccountCreatedOut:
    """Create an account and its first administrator; the answer carries their one-time
    set-up link (72 hours). 409 when the name or the email is taken, 422 for a bad name,
    region or email; nothing is created then."""
    with answering():
        created = store_of(request).onboarding.create_account(
            actor, body.name, body.region, body.admin_email
        )
    return _created(request, created)


def _change(request: Request, actor: Actor, account_id: str, action: AccountAction) -> AccountOut:
    onboarding = store_of(request).onboarding
    with answering():
        changed = onboarding.change_status(actor, account_id, action)
    return _out(onboarding.list_accounts(actor, only=changed)[0])


@router.post("/{account_id}/suspend", response_model=AccountOut)
def suspend(account_id: str, actor: OperatorDep, request: Request) -> AccountOut:
    """Suspend an active account: its users are signed out and cannot sign in, its keys
    and room links open nothing, until it is resumed. 422 from any other status."""
    return _change(request, actor, account_id, AccountAction.SUSPEND)


@router.post("/{account_id}/resume", response_model=AccountOut)
def resume(account_id: str, actor: OperatorDep, request: Request) -> AccountOut:
    """Resume a suspended account. 422 from any other status."""
    return _change(request, actor, account_id, AccountAction.RESUME)


@router.post("/{account_id}/terminate", response_model=AccountOut)
def terminate(account_id: str, actor: OperatorDep, request: Request) -> AccountOut:
    """Terminate an account for good: as suspended, and ``terminated_at`` starts its
    retention clock. 422 if already terminated."""
    return _change(request, actor, account_id, AccountAction.TERMINATE)


@router.post(
    "/{account_id}/setup-link",
    response_model=AccountCreatedOut,
    status_code=status.HTTP_201_CREATED,
)
def new_setup_link(account_id: str, actor: OperatorDep, request: Request) -> AccountCreatedOut:
    """A new set-up link for an active account whose first administrator has not set up
    (the earlier one expired or was lost; it stops working). Shown once. 422 when the
    account is not active or its administrator already chose a password."""
    with answering():
        created = store_of(request).onboarding.new_setup_link(actor, account_id)
    return _created(request, created)
