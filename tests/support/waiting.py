"""Waiting for something to happen: poll a condition until it holds or a deadline passes.

A test never sleeps a fixed time to let something happen; it waits on the thing itself, so it
goes on as soon as it can and fails with a reason when it cannot. (Where a real peer's timing is
the thing under test, a test still sleeps, and says so in a comment.)

``until`` and ``until_sync`` return whether the condition came true, for ``assert await
until(...)``; ``wait_until`` and ``wait_until_sync`` raise ``AssertionError`` naming what was
awaited, for waits that are not themselves the point of the test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: How often a condition is polled: fine enough for 20 ms media, cheap for the event loop.
INTERVAL = 0.05


async def until(
    predicate: Callable[[], object], timeout: float, interval: float = INTERVAL
) -> bool:
    """Poll ``predicate`` every ``interval`` seconds until it is truthy (True) or ``timeout``
    seconds have passed (False). It is checked once more at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if predicate():
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(interval, remaining))


async def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = INTERVAL
) -> None:
    """As ``until``, but a timeout fails the test with ``what`` was awaited."""
    if not await until(predicate, timeout, interval):
        raise AssertionError(f"waited {timeout} s for {what}")


def until_sync(predicate: Callable[[], object], timeout: float, interval: float = INTERVAL) -> bool:
    """``until`` for code without an event loop (Playwright's sync API, subprocess services)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))


def wait_until_sync(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = INTERVAL
) -> None:
    """As ``until_sync``, but a timeout fails the test with ``what`` was awaited."""
    if not until_sync(predicate, timeout, interval):
        raise AssertionError(f"waited {timeout} s for {what}")


async def holds_for(
    predicate: Callable[[], object], seconds: float, what: str, interval: float = INTERVAL
) -> None:
    """Fail unless ``predicate`` stays truthy for all of ``seconds``: for asserting that
    something does *not* happen (a late duplicate, a call that should not come back), which
    can only be watched for a while, never waited on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if not predicate():
            raise AssertionError(f"no longer true: {what}")
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(interval, remaining))
