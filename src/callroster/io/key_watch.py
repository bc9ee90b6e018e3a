"""A running service learns of destroyed data keys within seconds: it polls the store for
the keys it holds in memory (``KeyStore.forget_destroyed``, one small query on the ids it has
cached) every ``key_watch_seconds``, drops those, and publishes ``DataErased`` on the bus;
the bridge then drops every leg still in a conference of those accounts (their names and
numbers are in its memory, and their PINs no longer open anything).

The poll, not the bus, is what reaches other processes (``callroster account shred`` from
the command line, another node on the same database): the bus is in-process today.
"""

from __future__ import annotations

import asyncio
import logging
import time

from callroster.bridge.service import BridgeService
from callroster.bus import DataErased, ErasureSubscriber, EventBus
from callroster.conference.conference import ConferenceError
from callroster.store.store import Store
from callroster.store.unlinking import conferences_of_accounts

log = logging.getLogger(__name__)


async def watch_destroyed_keys(store: Store, bus: EventBus, every: float) -> None:
    """Every ``every`` seconds, forget the cached keys destroyed elsewhere and publish it."""
    while True:
        await asyncio.sleep(every)
        started = time.monotonic()
        try:
            destroyed = await asyncio.to_thread(store.keys.forget_destroyed)
        except Exception as exc:  # noqa: BLE001 - the database may be away a moment; try again
            log.warning("cannot check for destroyed data keys: %s", type(exc).__name__)
            continue
        if destroyed:
            log.info(
                "data keys destroyed elsewhere: %d account(s), cached keys dropped in %.3f s",
                len(destroyed),
                time.monotonic() - started,
            )
            bus.publish_erasure(DataErased(accounts=tuple(destroyed)))


def drop_calls_of_erased_accounts(store: Store, bridge: BridgeService) -> ErasureSubscriber:
    """A bus subscriber: the legs still in a conference of a shredded account are dropped."""

    def on_erased(erased: DataErased) -> None:
        in_progress = bridge.conferences_in_progress()
        if not erased.accounts or not in_progress:
            return
        shredded = conferences_of_accounts(store.sessions, in_progress, erased.accounts)
        for conference_id in shredded:
            conference = bridge.conference(conference_id)
            for leg in conference.present() if conference is not None else []:
                try:
                    bridge.control(conference_id, "drop", leg.id)
                except (KeyError, ConferenceError):  # gone meanwhile
                    continue
        if shredded:
            log.info("dropped the calls of %d conference(s) of shredded accounts", len(shredded))

    return on_erased
