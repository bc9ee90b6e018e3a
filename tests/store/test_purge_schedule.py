"""``serve``'s scheduled purge: it runs in a worker thread (the event loop keeps ticking
while 3,000 rows go in 500-row batches), logs its report as one JSON line, runs again on its
interval, and a setting of 0 runs none."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.conftest import FakeClock
from tests.store.test_retention import _plant, _world
from tests.support.waiting import wait_until

from callroster.config import Settings
from callroster.io.purge_schedule import keep_purging
from callroster.store.models import CallRecord
from callroster.store.store import Store


def _count(store: Store) -> int:
    with store.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CallRecord)) or 0)


def _reports(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(r.getMessage()) for r in caplog.records if "retention.purge" in r.getMessage()
    ]


def _purged(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r["counts"]["call_records"].get("call_records", 0) for r in _reports(caplog))


async def test_the_scheduled_purge_runs_in_a_thread_and_logs_its_report(
    store: Store, settings: Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    world = _world(store)
    _plant(store, world, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), 3000)
    caplog.set_level("INFO", logger="callroster.retention")
    gaps: list[float] = []

    async def ticking() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.005)
            gaps.append(loop.time() - last)
            last = loop.time()

    ticker = asyncio.create_task(ticking())
    every = settings.model_copy(update={"retention_interval_seconds": 0.2})
    purging = asyncio.create_task(keep_purging(store, every))
    try:
        await wait_until(lambda: _count(store) == 0, 60, "the scheduled purge")
        ticks = len(gaps)
        _plant(store, world, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), 10)
        await wait_until(lambda: _purged(caplog) == 3010, 10, "the next scheduled run")
    finally:
        purging.cancel()
        ticker.cancel()
    # The loop ran on while the thread purged: no 5 ms sleep took a quarter of a second.
    assert ticks > 0 and max(gaps) < 0.25, (ticks, max(gaps))
    # The first run took the 3,000 in 500-row batches (and perhaps the 10, when they came
    # before its last look); every row was purged once, by one run or the next.
    assert _reports(caplog)[0]["batches"] >= 6
    assert _count(store) == 0


async def test_an_interval_of_zero_runs_no_purge(store: Store, settings: Settings) -> None:
    world = _world(store)
    _plant(store, world, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), 5)
    off = settings.model_copy(update={"retention_interval_seconds": 0})
    await asyncio.wait_for(keep_purging(store, off), 5)  # returns at once
    assert _count(store) == 5
