"""A sliding-window limit on how often something may happen per key (pure: the time is
given). Used where one page could otherwise be made to call numbers in bulk."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence


class SlidingWindow:
    """At most ``limit`` events per key in any ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: defaultdict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may act again; 0 when it may now."""
        times = self._times.get(key)
        if times is None:
            return 0.0 if self.limit > 0 else self.window
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._times[key]
            return 0.0 if self.limit > 0 else self.window
        if len(times) < self.limit:
            return 0.0
        # The window is full, so the wait is positive, even where float addition rounds it
        # to nothing (a first event at 5e-82 s, now at 600 s, a 600 s window).
        return max(times[0] + self.window - now, 1e-9)

    def record(self, key: str, now: float) -> None:
        self._times[key].append(now)

    def forget(self, key: str, now: float) -> None:
        """Take back one event recorded at ``now`` (it did not happen after all)."""
        times = self._times.get(key)
        if times is not None and now in times:
            times.remove(now)
            if not times:
                del self._times[key]

    def keys(self) -> int:
        return len(self._times)


def take(windows: Sequence[tuple[SlidingWindow, str]], now: float) -> float:
    """Check every window for its key and, when all allow it, record the event in each: one
    step, with no ``await`` inside, so requests running at once cannot all pass a check
    before any of them is counted. Returns 0 when recorded, else the seconds to wait."""
    wait = max((window.retry_after(key, now) for window, key in windows), default=0.0)
    if wait > 0:
        return wait
    for window, key in windows:
        window.record(key, now)
    return 0.0
