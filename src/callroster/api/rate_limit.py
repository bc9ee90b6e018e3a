"""A sliding-window limit on how often something may happen per key (pure: the time is
given). Used where one page could otherwise be made to call numbers in bulk."""

from __future__ import annotations

from collections import defaultdict, deque


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
        return times[0] + self.window - now

    def record(self, key: str, now: float) -> None:
        self._times[key].append(now)

    def keys(self) -> int:
        return len(self._times)
