"""A real CRM webhook receiver for the tests: a Starlette app served by uvicorn on a free
loopback port. It checks each request's signature with ``verify``, answers from a script
(status, headers, how long to take), one script for all events or one per event id, and
then 200, and processes each event once, dropping
duplicates by their ``Idempotency-Key`` as a careful receiver would. Served with ``tls`` (a
certificate from ``tests.support.certs``) it speaks HTTPS only."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.support.certs import Issued

from callroster.crm.signing import verify


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    scheme: str = "http"  # https: it came over TLS


class Receiver:
    def __init__(
        self,
        secret: bytes,
        script: list[Reply] | None = None,
        by_event: dict[str, list[Reply]] | None = None,
    ) -> None:
        self.secret = secret
        self.script = list(script or [])
        self.by_event = {event: list(replies) for event, replies in (by_event or {}).items()}
        self.requests: list[Received] = []
        self.processed: list[bytes] = []
        self._seen: set[str] = set()
        self.in_flight = 0  # requests being answered (a delayed reply is still on its way)
        self.port = 0
        self.scheme = "http"
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/hooks/calls"

    async def _handle(self, request: Request) -> Response:
        self.in_flight += 1
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("callroster-signature", "")
        self.requests.append(
            Received(
                request.url.path,
                request.url.query,
                dict(request.headers),
                body,
                verify(self.secret, signature, body, now=time.time()),
                request.url.scheme,
            )
        )
        key = request.headers.get("idempotency-key", "")
        script = self.by_event.get(key, self.script)
        reply = script.pop(0) if script else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if 200 <= reply.status <= 299:
            if key not in self._seen:  # a duplicate is acknowledged, not processed again
                self._seen.add(key)
                self.processed.append(body)
        return Response(status_code=reply.status, headers=reply.headers)


@asynccontextmanager
async def serving(receiver: Receiver, tls: Issued | None = None) -> AsyncIterator[Receiver]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    receiver.port = sock.getsockname()[1]
    if tls is not None:
        receiver.scheme = "https"
    config = uvicorn.Config(
        receiver.app,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        ssl_certfile=tls.cert_file if tls is not None else None,
        ssl_keyfile=tls.key_file if tls is not None else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield receiver
    finally:
        server.should_exit = True
        await task


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
