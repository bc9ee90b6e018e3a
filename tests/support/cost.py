"""The cost of a pure function as the number of Python lines it runs, for the tests whose
point is that a parser's work is bounded (issue 12: any SIP message or SDP body up to 64 KB).

Counting lines, not seconds, makes the bound deterministic: a loaded machine, the garbage
collector or a parallel test session cannot move it, and a regression to a quadratic loop
in Python moves it by orders of magnitude. What a line costs in time is measured by
``make bench`` (bench/parse_cost.py), which holds the 5 ms target; work done inside one C
call (a regular expression, ``str.split``) counts as one line here, so the benchmark is
what watches those.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


def lines_run(action: Callable[[], object]) -> int:
    """How many Python lines ``action()`` runs (sys.settrace ``line`` events, every frame)."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        return local

    previous = sys.gettrace()
    assert threading.current_thread() is threading.main_thread() or previous is None
    sys.settrace(calls)
    try:
        action()
    finally:
        sys.settrace(previous)
    return count
