"""Request bodies are capped while they stream in, before any route sees them.

Each request may send at most its route's limit: ``DEFAULT_LIMIT`` (64 KiB), or more for the
few routes that need it (``RouteLimit``, e.g. a contact list upload). A body over the limit is
answered 413 as soon as that is known:

- at once when ``Content-Length`` says so: no byte of the body is read, and the app is not
  called;
- otherwise (a chunked body, or one whose length was not given) as soon as the bytes streamed
  in pass the limit: the app is told by an exception from ``receive()`` and, whatever it
  makes of that (FastAPI turns an error while reading a body into a 400 of its own), the
  answer is 413. At most the limit and the one chunk that passed it are ever handed on.

Any answer sent before the body was read whole (a 413, or a 401 given before the body was
read: see ``api/credentials_first.py``) carries ``Connection: close``: the server stops
reading, and the sender learns at once instead of after sending the rest, which the server
would otherwise read and throw away.

Pure ASGI: no framework state; the routes' paths are matched with Starlette's path templates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_LIMIT = 64 * 1024
CLOSE = (b"connection", b"close")


@dataclass(frozen=True)
class RouteLimit:
    """A larger (or smaller) limit for one route: ``path`` is its template, as the route
    declares it (``/api/v1/conferences/{conference_id}/web-legs``)."""

    method: str
    path: str
    limit: int


class BodyTooLarge(Exception):
    """What ``receive()`` raises once a body has passed its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request's body is larger than {limit} bytes")
        self.limit = limit


class BodyLimit:
    """ASGI middleware: every HTTP request's body is capped at its route's limit (see the
    module docstring). WebSockets and lifespan pass through untouched."""

    def __init__(
        self, app: ASGIApp, default: int = DEFAULT_LIMIT, routes: Iterable[RouteLimit] = ()
    ) -> None:
        self.app = app
        self.default = default
        self._routes: list[tuple[str, re.Pattern[str], int]] = [
            (route.method.upper(), compile_path(route.path)[0], route.limit) for route in routes
        ]

    def limit_for(self, method: str, path: str) -> int:
        """The most a body sent with ``method`` to ``path`` may hold, in bytes."""
        for route_method, pattern, limit in self._routes:
            if route_method == method and pattern.match(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared, chunked = _framing(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        request = _CappedRequest(limit, receive, send, expects_body=chunked or bool(declared))
        try:
            await self.app(scope, request.receive, request.send)
        except BodyTooLarge:
            if request.app_answered:
                raise  # too late for a 413: the server drops the connection
            if not request.refused:
                await request.refuse()


class _CappedRequest:
    """One request's body, counted against its limit as the app reads it."""

    def __init__(self, limit: int, receive: Receive, send: Send, *, expects_body: bool) -> None:
        self.limit = limit
        self.received = 0
        self.complete = not expects_body  # the whole body has been read
        self.exceeded = False
        self.app_answered = False  # the app's answer started before the body passed the limit
        self.refused = False  # our 413 went out
        self._receive = receive
        self._send = send

    async def receive(self) -> Message:
        if self.exceeded:
            raise BodyTooLarge(self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise BodyTooLarge(self.limit)
            if not message.get("more_body", False):
                self.complete = True
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded and not self.app_answered:
            # Whatever the app answers to the error it was given, the answer is ours.
            if message["type"] == "http.response.start" and not self.refused:
                await self.refuse()
            return
        if message["type"] == "http.response.start":
            self.app_answered = True
            headers = list(message.get("headers", []))
            if not self.complete and not any(name.lower() == b"connection" for name, _ in headers):
                message = {**message, "headers": [*headers, CLOSE]}
        await self._send(message)

    async def refuse(self) -> None:
        self.refused = True
        await _refuse(self._send, self.limit)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The body's declared length (None when not given), and whether it comes chunked."""
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        name = name.lower()
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = None  # the HTTP server refuses such a request before we see it
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return declared, chunked


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"the request's body may hold at most {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                CLOSE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
