"""A clock that moves only when a test says: :class:`callroster.clock.Clock` for the bridge
and anything else that takes one. ``advance`` runs every timer that falls due, in order, at
its own time, so a 20 ms media tick runs 50 times in a simulated second."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

WALL_START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@dataclass(order=True)
class FakeTimer:
    when: float
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    def __init__(self, start: float = 1000.0, wall_start: dt.datetime = WALL_START) -> None:
        self._now = start
        self._start = start
        self._wall_start = wall_start
        self._timers: list[FakeTimer] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self._now

    def wall(self) -> dt.datetime:
        return self._wall_start + dt.timedelta(seconds=self._now - self._start)

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(when, next(self._order), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move on by ``seconds``, running each timer that falls due at its own time."""
        until = self._now + seconds
        while self._timers and self._timers[0].when <= until:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, timer.when)
            timer.callback()
        self._now = until
