"""API routes that check who is calling before they read what was sent.

FastAPI reads and parses a request's body before it solves the route's dependencies, so a
stranger's body would be read (up to the body limit, ``api/body_limit.py``) and its JSON
parsed before the credential dependency answered 401. A router made with
``route_class=CredentialsFirst`` runs its routes' credential dependency (``authenticated`` or
``operator``) before the body instead; a refusal then goes out with the body unread (and, by
the body limit, with ``Connection: close``). The dependency keeps what it found on the
request, so when FastAPI solves it again it does not ask the store twice.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from callroster.api.auth import authenticated, operator

# The dependencies that say who is calling; each raises 401 or 403 for a bad credential.
CREDENTIAL_CHECKS: tuple[Callable[[Request], object], ...] = (authenticated, operator)


CredentialCheck = Callable[[Request], object]
_MARK = "__callroster_credential__"
_Check = TypeVar("_Check", bound=CredentialCheck)


def counts_as_credential(check: _Check) -> _Check:
    """Mark a dependency of a router's own as the credential check its routes run before
    their body (such as a browser leg's own key, ``api/web_join.py``); it raises 401, 403 or
    404 for a bad credential. An ``async`` one runs on the event loop, a plain one in a
    thread."""
    setattr(check, _MARK, True)
    return check


def credential_check(dependant: Dependant) -> CredentialCheck | None:
    """The credential dependency among a route's own parameters, if it has one."""
    for dependency in dependant.dependencies:
        call = dependency.call
        if call is not None and (call in CREDENTIAL_CHECKS or getattr(call, _MARK, False)):
            return call
    return None


class CredentialsFirst(APIRoute):
    """A route whose credentials are checked before its body is read (module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        check = credential_check(self.dependant)
        if check is None or self.body_field is None:
            return handler

        async def credentials_first(request: Request) -> Response:
            if inspect.iscoroutinefunction(check):
                await check(request)
            else:
                await asyncio.to_thread(check, request)  # the store is synchronous
            return await handler(request)

        return credentials_first
