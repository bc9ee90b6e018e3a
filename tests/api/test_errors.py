"""The one table from domain errors to HTTP answers (callroster.api.errors)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callroster.api.errors import answering, http_error, install
from callroster.errors import (
    AccessDeniedError,
    CallrosterError,
    ConfigError,
    DataKeyDestroyedError,
    DuplicateError,
    NotFoundError,
)
from callroster.privacy.normalise import InvalidValueError
from callroster.store import errors as store_errors


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (NotFoundError("no trunk named 'x'"), 404, "no trunk named 'x'"),
        (AccessDeniedError("host may not"), 403, "not allowed"),
        (DuplicateError("this PIN is taken"), 409, "this PIN is taken"),
        (DataKeyDestroyedError("gone"), 410, "this account's data was destroyed"),
        (ValueError("a PIN is 4 to 12 digits"), 422, "a PIN is 4 to 12 digits"),
        (ConfigError("bad"), 500, "internal error"),
    ],
)
def test_each_error_has_one_status(error: Exception, status: int, detail: str) -> None:
    answer = http_error(error)
    assert (answer.status_code, answer.detail) == (status, detail)


def test_a_route_that_hides_existence_answers_denied_as_missing() -> None:
    answer = http_error(
        AccessDeniedError("other account"), missing="no such user", hide_denied=True
    )
    assert (answer.status_code, answer.detail) == (404, "no such user")
    answer = http_error(NotFoundError("no user u1"), missing="no such account")
    assert (answer.status_code, answer.detail) == (404, "no such account")


def test_store_errors_belong_to_the_one_hierarchy() -> None:
    assert store_errors.AccessDeniedError is AccessDeniedError
    assert store_errors.DuplicateError is DuplicateError
    for error in (AccessDeniedError, DuplicateError, NotFoundError, DataKeyDestroyedError):
        assert issubclass(error, CallrosterError)


def test_the_app_answers_errors_a_route_lets_through() -> None:
    app = FastAPI()
    install(app)
    raised: dict[str, Exception] = {
        "missing": NotFoundError("no conference c1"),
        "denied": AccessDeniedError("no"),
        "invalid": InvalidValueError("not a possible phone number"),
    }

    @app.get("/{what}")
    def route(what: str) -> None:
        if what == "wrapped":
            with answering(missing="no such thing", hide_denied=True):
                raise AccessDeniedError("another account")
        raise raised[what]

    client = TestClient(app)
    assert client.get("/missing").json() == {"detail": "no conference c1"}
    assert client.get("/missing").status_code == 404
    assert client.get("/denied").status_code == 403
    assert client.get("/invalid").status_code == 422
    wrapped = client.get("/wrapped")
    assert (wrapped.status_code, wrapped.json()) == (404, {"detail": "no such thing"})
