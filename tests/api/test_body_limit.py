"""The body limit (api/body_limit.py), driven by hand: a body over its route's limit is
refused with 413 before it is read (a declared length) or as soon as it passes the limit
(streamed), whatever the app makes of the error; a body at the limit goes through; an answer
given before the body was read whole closes the connection. And the app's table of larger
limits names real routes."""

from __future__ import annotations

import json

import pytest
from starlette.types import Message, Receive, Scope, Send
from tests.support.asgi import exchange

from callroster.api.body_limit import DEFAULT_LIMIT, BodyLimit, BodyTooLarge, RouteLimit
from callroster.app import BODY_LIMITS, create_app
from callroster.config import Settings
from callroster.store.store import Store

LIMIT = 100
JSON = ("content-type", "application/json")


class Reader:
    """An app that reads the whole body, then answers 200 with its length."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await _answer(send, 200, str(size).encode())


async def _answer(send: Send, status: int, body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def chunked(size: int, chunk: int = 30) -> list[bytes]:
    return [b"x" * min(chunk, size - start) for start in range(0, size, chunk)]


def declared(size: int) -> list[tuple[str, str]]:
    return [("content-length", str(size))]


CHUNKED = [("transfer-encoding", "chunked")]


async def test_a_declared_length_over_the_limit_is_refused_before_the_app_is_called() -> None:
    reader = Reader()
    answer = await exchange(
        BodyLimit(reader, LIMIT), "PATCH", "/x", headers=declared(LIMIT + 1), chunks=[b"x" * 101]
    )
    assert answer.status == 413
    assert (reader.calls, answer.chunks_pulled) == (0, 0)
    assert answer.header("connection") == "close"
    assert json.loads(answer.body) == {
        "detail": f"the request's body may hold at most {LIMIT} bytes"
    }


async def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    reader = Reader()
    body = chunked(10_000)  # 334 chunks of 30 bytes
    answer = await exchange(BodyLimit(reader, LIMIT), "PATCH", "/x", headers=CHUNKED, chunks=body)
    assert answer.status == 413 and answer.header("connection") == "close"
    # 30, 60, 90, 120: the fourth chunk passes 100 bytes, and nothing after it is read.
    assert (answer.chunks_pulled, answer.bytes_pulled) == (4, 120)


@pytest.mark.parametrize("framing", ["declared", "chunked"])
async def test_a_body_at_the_limit_goes_through_and_one_byte_more_does_not(framing: str) -> None:
    for size, status in ((LIMIT, 200), (LIMIT + 1, 413)):
        headers = declared(size) if framing == "declared" else CHUNKED
        answer = await exchange(
            BodyLimit(Reader(), LIMIT), "POST", "/x", headers=headers, chunks=chunked(size)
        )
        assert answer.status == status, (size, answer)
        if status == 200:
            assert answer.body == str(size).encode()
            assert answer.header("connection") is None  # read whole: the connection may stay


async def test_an_app_that_turns_the_error_into_its_own_answer_still_answers_413() -> None:
    async def parses_badly(scope: Scope, receive: Receive, send: Send) -> None:
        # What FastAPI does with an error raised while it reads a body: a 400 of its own.
        try:
            while (await receive()).get("more_body"):
                pass
        except BodyTooLarge:
            await _answer(send, 400, b"There was an error parsing the body")
            return
        await _answer(send, 200)

    answer = await exchange(
        BodyLimit(parses_badly, LIMIT), "POST", "/x", headers=CHUNKED, chunks=chunked(1_000)
    )
    assert answer.status == 413 and b"at most 100 bytes" in answer.body
    assert answer.bytes_pulled == 120


async def test_an_answer_before_the_body_is_read_closes_the_connection() -> None:
    async def refuses_unread(scope: Scope, receive: Receive, send: Send) -> None:
        await _answer(send, 401)

    answer = await exchange(
        BodyLimit(refuses_unread, LIMIT), "POST", "/x", headers=declared(50), chunks=[b"x" * 50]
    )
    assert (answer.status, answer.chunks_pulled, answer.header("connection")) == (401, 0, "close")
    # Without a body there is nothing left to read: the connection stays open.
    empty = await exchange(BodyLimit(refuses_unread, LIMIT), "GET", "/x")
    assert (empty.status, empty.header("connection")) == (401, None)


async def test_a_body_that_passes_the_limit_after_the_answer_began_is_not_hidden() -> None:
    async def answers_then_reads(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive()).get("more_body"):
            pass

    with pytest.raises(BodyTooLarge):
        await exchange(
            BodyLimit(answers_then_reads, LIMIT), "POST", "/x", headers=CHUNKED, chunks=chunked(500)
        )


def test_routes_that_need_more_get_their_own_limit() -> None:
    limits = BodyLimit(
        Reader(),
        LIMIT,
        routes=[
            RouteLimit("POST", "/api/v1/contacts", 2_000),
            RouteLimit("POST", "/api/v1/conferences/{conference_id}/web-legs", 500),
        ],
    )
    assert limits.limit_for("POST", "/api/v1/contacts") == 2_000
    assert limits.limit_for("PUT", "/api/v1/contacts") == LIMIT  # another method
    assert limits.limit_for("POST", "/api/v1/contacts/x") == LIMIT  # another path
    assert limits.limit_for("POST", "/api/v1/conferences/c-1/web-legs") == 500
    assert limits.limit_for("POST", "/api/v1/conferences/c-1/web-legs/l-1/mute") == LIMIT
    assert limits.limit_for("PATCH", "/api/v1/me") == LIMIT


async def test_websockets_and_the_lifespan_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    for kind in ("websocket", "lifespan"):
        await BodyLimit(app, LIMIT)({"type": kind, "headers": []}, receive, send)
    assert seen == ["websocket", "lifespan"]


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the limits are the app's, whichever store is behind it


def test_the_app_limits_every_body_and_its_larger_limits_name_real_routes(
    store: Store, settings: Settings
) -> None:
    app = create_app(store, settings)
    limits = [m for m in app.user_middleware if m.cls is BodyLimit]
    assert len(limits) == 1 and limits[0].kwargs["default"] == DEFAULT_LIMIT == 64 * 1024
    paths = app.openapi()["paths"]
    for limit in BODY_LIMITS:
        assert "requestBody" in paths[limit.path][limit.method.lower()], limit
    assert {limit.path: limit.limit for limit in BODY_LIMITS}["/api/v1/contacts"] == 2 * 1024**2
