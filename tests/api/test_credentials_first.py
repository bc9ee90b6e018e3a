"""Credentials before the body (api/credentials_first.py): every API route that takes a body
answers a request without valid credentials 401 (or 403) with none of its body read, and
closes the connection; with valid credentials the body is read and the request served, the
credential looked up once. FastAPI's own order, shown on a plain route, reads the body first:
the check these tests make can fail."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel
from tests.support.asgi import exchange

from callroster.accounts import demo
from callroster.api import (
    account,
    calls,
    contacts,
    crm,
    dial_out,
    live,
    operator,
    routes,
    users,
    web_join,
)
from callroster.api.auth import SESSION_COOKIE, Caller, authenticated
from callroster.api.credentials_first import CredentialsFirst
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.store import Store

JSON = ("content-type", "application/json")
BODY = [b'{"name": ', b'"Someone', b' Else"}']
SIZED = [JSON, ("content-length", str(sum(map(len, BODY))))]


class ProfilePatch(BaseModel):
    name: str


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the order is the app's, whichever store is behind it


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return create_app(store, settings)


@pytest.fixture
def details(store: Store, settings: Settings) -> demo.DemoDetails:
    return demo.ensure_demo(store, settings)


def body_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every API operation that takes a body, its path parameters filled in."""
    routes = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/api/") and "requestBody" in operation:
                routes.append((method.upper(), re.sub(r"\{[^}]+\}", "x-1", path)))
    return routes


def test_every_api_route_with_a_body_is_found(app: FastAPI) -> None:
    routes = body_routes(app)
    assert ("PATCH", "/api/v1/me") in routes and ("POST", "/api/v1/contacts") in routes
    assert ("POST", "/api/v1/operator/trunks") in routes
    assert len(routes) >= 12, routes


@pytest.mark.parametrize(
    "credential",
    [
        [],
        [("authorization", "Bearer cr_not-a-token")],
        [("authorization", "Bearer cro_not-an-operator-token")],
        [("cookie", f"{SESSION_COOKIE}=crs_not-a-session")],
    ],
    ids=["none", "bad-token", "bad-operator-token", "bad-session"],
)
async def test_no_valid_credential_is_refused_before_any_of_the_body_is_read(
    app: FastAPI, details: demo.DemoDetails, credential: list[tuple[str, str]]
) -> None:
    for method, path in body_routes(app):
        answer = await exchange(app, method, path, headers=[*SIZED, *credential], chunks=BODY)
        assert answer.status in (401, 403), (method, path, answer)
        assert answer.chunks_pulled == 0, (method, path, answer)
        assert answer.header("connection") == "close", (method, path, answer)


async def test_a_valid_credential_gets_its_body_read_and_is_looked_up_once(
    app: FastAPI, store: Store, details: demo.DemoDetails, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = 0
    authenticate = store.tokens.authenticate

    def counted(token: str) -> object:
        nonlocal lookups
        lookups += 1
        return authenticate(token)

    monkeypatch.setattr(store.tokens, "authenticate", counted)
    host = ("authorization", f"Bearer {details.host_token}")
    answer = await exchange(app, "PATCH", "/api/v1/me", headers=[*SIZED, host], chunks=BODY)
    assert answer.status == 200, answer
    assert b"Someone Else" in answer.body
    assert (answer.chunks_pulled, answer.header("connection")) == (3, None)
    assert lookups == 1


async def test_fastapi_alone_reads_the_body_before_the_credential_is_checked(
    store: Store,
) -> None:
    """The control: the same dependency on a plain route reads the whole body first."""
    router = APIRouter()  # no route_class: FastAPI's own order

    @router.patch("/api/v1/me")
    def edit(body: ProfilePatch, caller: Annotated[Caller, Depends(authenticated)]) -> None:
        raise AssertionError("never reached without a credential")

    plain = FastAPI()
    plain.state.store = store
    plain.include_router(router)
    answer = await exchange(plain, "PATCH", "/api/v1/me", headers=SIZED, chunks=BODY)
    assert (answer.status, answer.chunks_pulled) == (401, 3)


def test_every_api_router_checks_credentials_first() -> None:
    """A new router without ``route_class=CredentialsFirst`` fails the tests above for its
    body routes; this names the rule for routes that take no body yet."""
    modules = (account, calls, contacts, crm, dial_out, live, operator, routes, users, web_join)
    route_classes: dict[str, Callable[..., object]] = {
        module.__name__: module.router.route_class for module in modules
    }
    assert all(cls is CredentialsFirst for cls in route_classes.values()), route_classes
