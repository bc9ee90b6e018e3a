"""Domain errors as HTTP answers: the one place an error of ``callroster.errors`` becomes a
status.

=======================  ======  =============================================
error                    status  detail
=======================  ======  =============================================
NotFoundError            404     its message, or the route's words for "missing"
AccessDeniedError        403     "not allowed"; 404 like a missing thing where the
                                 route hides whether it exists (``hide_denied``)
DuplicateError           409     its message
InUseError               409     its message
DataKeyDestroyedError    410     "this account's data was destroyed"
ValueError               422     its message (only inside ``answering``: a value the
                                 person gave; elsewhere a ValueError is a bug)
=======================  ======  =============================================

``install(app)`` makes ``http_error`` the app's handler for the four errors above of the
``CallrosterError`` hierarchy and for ``InvalidValueError``, so a route lets a repository's
error through. A route whose repository call refuses a value with ``ValueError``, or that
says "no such user" rather than the error's own words, wraps the call in ``answering(...)``,
which maps with the same table. A route that must not reveal whether a conference or an
account exists catches ``UNSEEN`` and answers its own 404 ("no such conference"), whatever
the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse

from callroster.errors import (
    AccessDeniedError,
    DataKeyDestroyedError,
    DuplicateError,
    InUseError,
    NotFoundError,
)
from callroster.privacy.normalise import InvalidValueError

# What a repository raises for a request a person can correct or must be refused.
STORE_ERRORS: tuple[type[Exception], ...] = (
    NotFoundError,
    AccessDeniedError,
    DuplicateError,
    InUseError,
    DataKeyDestroyedError,
    ValueError,
)

# What a route that hides existence answers as "no such ..." (404): the thing is missing,
# belongs to another account, or its account's data was destroyed; the caller learns none.
UNSEEN: tuple[type[Exception], ...] = (NotFoundError, AccessDeniedError, DataKeyDestroyedError)


def http_error(
    exc: Exception, *, missing: str | None = None, hide_denied: bool = False
) -> HTTPException:
    """The HTTP answer to a domain error.

    Args:
        exc: the error a repository (or a policy) raised.
        missing: the route's words for a 404 (for example "no such conference"); without
            them a ``NotFoundError`` says its own message.
        hide_denied: answer ``AccessDeniedError`` as a missing thing (404), so the caller
            does not learn that the thing exists in another account.

    Returns:
        The exception to raise; an error outside the table is a 500.
    """
    if isinstance(exc, AccessDeniedError) and not hide_denied:
        return HTTPException(status.HTTP_403_FORBIDDEN, "not allowed")
    if isinstance(exc, NotFoundError | AccessDeniedError):
        return HTTPException(status.HTTP_404_NOT_FOUND, missing or str(exc))
    if isinstance(exc, DuplicateError | InUseError):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    if isinstance(exc, DataKeyDestroyedError):
        return HTTPException(status.HTTP_410_GONE, "this account's data was destroyed")
    if isinstance(exc, ValueError):
        return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))
    return HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error")


@contextmanager
def answering(*, missing: str | None = None, hide_denied: bool = False) -> Iterator[None]:
    """Inside the block, a repository's error (``STORE_ERRORS``) becomes its HTTP answer,
    with the route's own words for a 404 (see ``http_error``)."""
    try:
        yield
    except STORE_ERRORS as exc:
        raise http_error(exc, missing=missing, hide_denied=hide_denied) from None


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    answer = http_error(exc)
    return JSONResponse(status_code=answer.status_code, content={"detail": answer.detail})


def install(app: FastAPI) -> None:
    """Answer the domain errors a route lets through by the table above. Errors outside it
    (ConfigError, MasterKeyError...) are the service's own fault: 500, as before."""
    for error in (
        NotFoundError,
        AccessDeniedError,
        DuplicateError,
        InUseError,
        DataKeyDestroyedError,
    ):
        app.add_exception_handler(error, _handle)
    app.add_exception_handler(InvalidValueError, _handle)
