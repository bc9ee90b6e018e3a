"""The answer to ``POST /privacy/request`` does not wait for the code to be sent, and takes
about as long whether or not the address is on record: the ASGI exchange is driven by hand
and timed to the answer's last byte, with a code sender that takes 300 ms (a slow mail
server) and records what it sends."""

from __future__ import annotations

import asyncio
import statistics
import time
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from tests.store.test_privacy_requests import EMAIL, seed

from callroster.app import create_app
from callroster.config import Settings
from callroster.io.code_sender import CodeSender
from callroster.store.privacy_requests import CodeDelivery
from callroster.store.store import Store
from callroster.web.privacy_request import COOKIE, _csrf

SLOW = 0.3
PRE_SESSION = "pre-session-of-the-timing-test"


class SlowSender(CodeSender):
    def __init__(self) -> None:
        super().__init__(None, None, "privacy@callroster.test")
        self.deliveries: list[str] = []

    async def send(self, delivery: CodeDelivery, kind_label: str) -> None:
        await asyncio.sleep(SLOW)
        self.deliveries.append(delivery.address)


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the store's part runs on both in tests/store/test_privacy_requests.py


async def answer_time(app: FastAPI, address: str, n: int) -> tuple[int, float]:
    """The status and the seconds from the request to the answer's last byte."""
    body = urlencode(
        {"csrf_token": _csrf(PRE_SESSION), "kind": "access", "email": address}
    ).encode()
    answered: list[float] = []
    status: list[int] = []
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))  # type: ignore[call-overload]
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.append(time.perf_counter())

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/privacy/request",
        "raw_path": b"/privacy/request",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"cookie", f"{COOKIE}={PRE_SESSION}".encode()),
        ],
        # Each request from its own source, so that the per-source limit never answers.
        "client": (f"192.0.2.{n % 250 + 1}", 40000),
        "server": ("testserver", 443),
        "state": {},
    }
    started = time.perf_counter()
    await app(scope, receive, send)  # returns once the background sending is done too
    return status[0], answered[0] - started


def test_the_answer_neither_waits_for_sending_nor_depends_on_the_address(
    store: Store, settings: Settings
) -> None:
    seed(store)
    app = create_app(store, settings)
    sender = SlowSender()
    app.state.code_sender = sender
    known: list[float] = []
    unknown: list[float] = []

    async def run() -> None:
        # Warm up (the first request makes the platform keys): one of each, not measured.
        await answer_time(app, "warm.up@nowhere.example", 250)
        await answer_time(app, EMAIL, 251)
        app.state.privacy_request_windows = None
        sender.deliveries.clear()
        for n in range(24):  # alternated, 3 per address an hour: fresh addresses by case
            address = EMAIL if n % 2 == 0 else f"nobody{n}@nowhere.example"
            if n % 2 == 0:
                # The per-address limit keys on the normalised address: a fresh limiter.
                app.state.privacy_request_windows = None
            status, seconds = await answer_time(app, address, n)
            assert status == 303
            (known if n % 2 == 0 else unknown).append(seconds)

    asyncio.run(run())
    assert len(sender.deliveries) == 12 and set(sender.deliveries) == {EMAIL}
    slow_known, slow_unknown = max(known), max(unknown)
    # Never the 300 ms of sending in the answer.
    assert slow_known < SLOW and slow_unknown < SLOW, (known, unknown)
    median_known, median_unknown = statistics.median(known), statistics.median(unknown)
    print(
        f"answer median: known {median_known * 1000:.1f} ms, unknown {median_unknown * 1000:.1f} ms"
    )
    assert abs(median_known - median_unknown) < 0.02 + 0.5 * min(median_known, median_unknown)
