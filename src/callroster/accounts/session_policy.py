"""How long a sign-in lasts and when attempts are refused: pure functions of the times given.

The cookie policy promises a session cookie that "lasts for the duration of the session or
automatically invalidates after 15 minutes of inactivity", and, for those who choose to stay
signed in, one that "lasts for 1 day". So an ordinary session ends after 15 minutes without
a request (each authenticated request slides ``last_seen_at``), and in any case 12 hours
after sign-in; a "stay signed in" session lasts one day from sign-in, active or not.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

IDLE_LIMIT = dt.timedelta(minutes=15)
ORDINARY_LIFETIME = dt.timedelta(hours=12)
STAY_SIGNED_IN_LIFETIME = dt.timedelta(days=1)

LOCK_WINDOW = dt.timedelta(minutes=15)
LOCK_DURATION = dt.timedelta(minutes=15)
FAILURES_PER_EMAIL = 5
FAILURES_PER_SOURCE = 20
FAILURES_PER_SECOND_FACTOR = 5


def expires_at(created_at: dt.datetime, *, stay_signed_in: bool) -> dt.datetime:
    """The absolute end of a session signed in at ``created_at``."""
    return created_at + (STAY_SIGNED_IN_LIFETIME if stay_signed_in else ORDINARY_LIFETIME)


def session_alive(
    now: dt.datetime,
    *,
    last_seen_at: dt.datetime,
    expires_at: dt.datetime,
    stay_signed_in: bool,
) -> bool:
    """Whether a session may still be used at ``now``.

    A "stay signed in" session has no idle limit: it lasts until ``expires_at``.
    """
    if now >= expires_at:
        return False
    return stay_signed_in or now - last_seen_at <= IDLE_LIMIT


@dataclass(frozen=True)
class Limit:
    """At most ``failures`` failed attempts within ``LOCK_WINDOW``; the one that reaches it
    locks further attempts out for ``LOCK_DURATION``."""

    key: bytes
    failures: int


def locked_until(failures: Sequence[dt.datetime], threshold: int) -> dt.datetime | None:
    """When the lock-out these failures caused ends (None if they caused none).

    A lock starts at the failure that makes ``threshold`` failures within ``LOCK_WINDOW``
    and lasts ``LOCK_DURATION`` from it. Attempts refused while locked are not failures
    (nothing was checked), so they do not extend it.
    """
    times = sorted(failures)
    until: dt.datetime | None = None
    for i in range(threshold - 1, len(times)):
        if times[i] - times[i - threshold + 1] < LOCK_WINDOW:
            until = times[i] + LOCK_DURATION
    return until


def minutes_left(until: dt.datetime, now: dt.datetime) -> int:
    """Whole minutes to wait, rounded up (never 0 while still locked)."""
    return max(1, math.ceil((until - now).total_seconds() / 60))


def too_many_attempts(until: dt.datetime, now: dt.datetime) -> str:
    minutes = minutes_left(until, now)
    return f"Too many attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
