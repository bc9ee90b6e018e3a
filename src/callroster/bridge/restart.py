"""Surviving a crash: the heartbeat, each call's dialog kept in the store, and the start that
closes what a killed process left open (store/restart.py) and ends its calls with a BYE.

The bridge reaches the store here as it does in ``directory.py``: through a small interface
(:class:`RestartLedger`), written from the recorder's queue so that a slow database never
delays a 20 ms tick and a dialog's row follows its leg's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Protocol

from callroster.sip.snapshot import DialogSnapshot
from callroster.store.restart import Recovery
from callroster.store.store import Store

log = logging.getLogger(__name__)

#: Seconds between heartbeats. A crash's legs end at most this much before it: the error of
#: every duration a crash cuts short, for one small write (one row, rewritten).
HEARTBEAT_SECONDS = 10.0
#: A graceful stop (SIGTERM): how long callers may hear that the service is restarting before
#: their BYE (the prompt lasts 3.5 s). deploy/callroster.service's TimeoutStopSec allows for
#: it and the web server's stop.
GRACEFUL_STOP_SECONDS = 5.0


class RestartLedger(Protocol):
    def dialog_opened(self, leg_id: str, account_id: str, snapshot: DialogSnapshot) -> None:
        """A call joined a conference: keep what its BYE needs."""
        ...

    def dialog_closed(self, leg_id: str) -> None:
        """The call ended: forget its dialog."""
        ...


class StoreRestartLedger:
    """The ledger in the store (encrypted under the account's key, audit-logged)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def dialog_opened(self, leg_id: str, account_id: str, snapshot: DialogSnapshot) -> None:
        self._store.restart.open_dialog(leg_id, account_id, snapshot.to_json())

    def dialog_closed(self, leg_id: str) -> None:
        self._store.restart.close_dialog(leg_id)


async def keep_beating(store: Store, every: float = HEARTBEAT_SECONDS) -> None:
    """Write the heartbeat now and every ``every`` seconds (in a thread, off the loop the
    media clock runs on); a failed write is logged and tried again next time."""
    while True:
        try:
            await asyncio.to_thread(store.restart.beat)
        except Exception:  # noqa: BLE001 - the service carries on; the next beat may work
            log.exception("could not write the heartbeat")
        await asyncio.sleep(every)


def orphans(recovery: Recovery) -> Iterator[DialogSnapshot]:
    """The dialogs a recovery handed back, as snapshots to send BYE (an unreadable one is
    logged and skipped)."""
    for dialog in recovery.dialogs:
        try:
            yield DialogSnapshot.from_json(dialog.snapshot)
        except ValueError:
            log.warning("restart: the dialog of leg %s cannot be read; no BYE", dialog.leg_id)
