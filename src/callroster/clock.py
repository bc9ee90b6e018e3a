"""Where time comes from: one clock, injected, so every rule on time runs under a fake one.

Two readings, never mixed: :meth:`Clock.time` is monotonic seconds for timers (the event
loop's own clock in the service, which is what ``call_at`` counts in), and
:meth:`Clock.wall` is the UTC time of day for records people read (call detail records,
roster changes). ``io/clock.py`` has the real one; ``tests/support/clock.py`` a fake that
tests move by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol


def utc_now() -> dt.datetime:
    """The time of day in UTC (the default wall clock)."""
    return dt.datetime.now(dt.UTC)


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float:
        """Monotonic seconds, for timers and deadlines."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once :meth:`time` reaches ``when``."""
        ...

    def wall(self) -> dt.datetime:
        """The time of day (UTC), for records."""
        ...
