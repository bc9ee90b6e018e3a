"""Timing a pure function, for the few tests whose point is how long something takes (issue 12:
any SIP message or SDP body up to 64 KB is handled in under 5 ms).

The figure is the fastest of a few runs: a run the scheduler or the garbage collector
interrupted is slower, never faster, so the minimum is what the code itself costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def fastest_of(runs: int, action: Callable[[], object]) -> float:
    """The shortest of ``runs`` calls of ``action``, in seconds (time.perf_counter)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best
