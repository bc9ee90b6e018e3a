"""The clock of a running service: the event loop's monotonic time, and a wall clock (the
store's, so a store built with a fake clock governs the records too)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from callroster.clock import utc_now


class LoopClock:
    """:class:`callroster.clock.Clock` on an asyncio event loop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, wall: Callable[[], dt.datetime] = utc_now
    ) -> None:
        # Bound methods as attributes: ``time`` is read for every RTP packet.
        self.time = loop.time
        self.wall = wall
        self._loop = loop

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self._loop.call_at(when, callback)
