"""Writes leg records to the store off the media path: one worker, one queue, each write in
a thread, so a slow database never delays a 20 ms tick."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class StoreWriter:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Callable[[], None] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="store-writer")

    def submit(self, write: Callable[[], None]) -> None:
        self._queue.put_nowait(write)

    async def _run(self) -> None:
        while (write := await self._queue.get()) is not None:
            try:
                await asyncio.to_thread(write)
            except Exception:  # noqa: BLE001 - a failed write is logged; calls go on
                log.exception("writing a leg record failed")

    async def drain_and_stop(self) -> None:
        """Finish every queued write, then stop."""
        if self._worker is None:
            return
        self._queue.put_nowait(None)
        await self._worker
        self._worker = None
