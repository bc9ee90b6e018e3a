"""One HTTP exchange with an ASGI app, driven by hand, counting what the app reads.

A test server hands the app the whole body as soon as it asks; here the body is a list of
chunks given one per ``receive()``, and the exchange records how many chunks (and bytes) the
app pulled before it answered: the proof that an answer came before, or without, the body.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message


@dataclass
class Exchange:
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunks_pulled: int = 0
    bytes_pulled: int = 0

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name.lower()), None)


async def exchange(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    chunks: Iterable[bytes] = (),
) -> Exchange:
    """Send ``method path`` with ``headers`` and a body of ``chunks`` (none: no body) from
    127.0.0.1; the answer, and how much of the body the app pulled to give it."""
    result = Exchange()
    pending: Iterator[bytes] = iter(chunks)
    upcoming = next(pending, None)
    sent_last = upcoming is None

    async def receive() -> Message:
        nonlocal upcoming, sent_last
        if upcoming is None:
            if not sent_last:
                sent_last = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.disconnect"}
        chunk, upcoming = upcoming, next(pending, None)
        result.chunks_pulled += 1
        result.bytes_pulled += len(chunk)
        if upcoming is None:
            sent_last = True
        return {"type": "http.request", "body": chunk, "more_body": upcoming is not None}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = [(k.decode().lower(), v.decode()) for k, v in message["headers"]]
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    return result
