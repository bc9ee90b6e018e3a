"""Surviving a crash: the heartbeat, each call's dialog kept in the store, and the start that
closes what a killed process left open (store/restart.py) and ends its calls with a BYE.

The bridge reaches the store here as it does for everything else: through a small interface
(:class:`RestartLedger`, filled by ``directory.StoreRestartLedger``). Dialogs are written from
the recorder's queue, so that a slow database never delays a 20 ms tick and a dialog's row
follows its leg's; the heartbeat and the recovery run in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from callroster.sip.snapshot import DialogSnapshot

log = logging.getLogger(__name__)

#: Seconds between heartbeats. A crash's legs end at most this much before it: the error of
#: every duration a crash cuts short, for one small write (one row, rewritten).
HEARTBEAT_SECONDS = 10.0
#: A graceful stop (SIGTERM): how long callers may hear that the service is restarting before
#: their BYE (the prompt lasts 3.5 s). deploy/callroster.service's TimeoutStopSec allows for
#: it and the web server's stop.
GRACEFUL_STOP_SECONDS = 5.0


class RestartLedger(Protocol):
    def recover(self) -> list[DialogSnapshot]:
        """On start, before any call: close what a killed process left open; returns the
        dialogs it left, to send each a BYE."""
        ...

    def beat(self) -> None:
        """The service is alive now."""
        ...

    def leg_opened(self, leg_id: str, account_id: str | None) -> None:
        """A leg (or a call we dial) began on this node: close it on the next start
        should this process die first. ``account_id``: None for a leg whose row is written."""
        ...

    def dialog_opened(self, leg_id: str, account_id: str, snapshot: DialogSnapshot) -> None:
        """A phone joined a conference: keep what its BYE needs."""
        ...

    def leg_closed(self, leg_id: str) -> None:
        """The call ended and its records are closed: nothing to do for it after a crash."""
        ...


async def keep_beating(ledger: RestartLedger, every: float = HEARTBEAT_SECONDS) -> None:
    """Write the heartbeat now and every ``every`` seconds (in a thread, off the loop the
    media clock runs on); a failed write is logged and tried again next time."""
    while True:
        try:
            await asyncio.to_thread(ledger.beat)
        except Exception:  # noqa: BLE001 - the service carries on; the next beat may work
            log.exception("could not write the heartbeat")
        await asyncio.sleep(every)
