"""``serve``'s retention purge: ``store/purge.py`` run in a worker thread every
``retention_interval_seconds``, so the bridge's loop never waits on it. Each batch is its own
short transaction; a run that fails (the database went away) is logged and the next one
resumes it, the deletes being idempotent. On shutdown the run in progress stops after its
current batch."""

from __future__ import annotations

import asyncio
import logging
import threading

from callroster.config import Settings
from callroster.store.store import Store

log = logging.getLogger("callroster.retention")


async def keep_purging(store: Store, settings: Settings) -> None:
    """Purge now and every ``retention_interval_seconds`` (0: never)."""
    every = settings.retention_interval_seconds
    if every <= 0:
        return
    purge = store.purge(settings.retention_batch_rows, settings.retention_batch_pause_ms / 1000)
    stop = threading.Event()
    try:
        while True:
            try:
                await asyncio.to_thread(purge.run, should_stop=stop.is_set)
            except Exception as exc:  # noqa: BLE001 - a failed run must not end the schedule
                # (The database went away, most likely; io/ does not know SQLAlchemy's
                # errors by name: only store/ touches the database.)
                log.error(
                    "retention purge stopped: %s; the next run resumes it", type(exc).__name__
                )
            await asyncio.sleep(every)
    finally:
        stop.set()  # a run still in its thread stops after the batch in hand
