"""How long a sign-in lasts and when attempts are refused: pure functions of the times given.

The cookie policy promises a session cookie that "lasts for the duration of the session or
automatically invalidates after 15 minutes of inactivity", and, for those who choose to stay
signed in, one that "lasts for 1 day". So an ordinary session ends after 15 minutes without
a request (each authenticated request slides ``last_seen_at``), and in any case 12 hours
after sign-in; a "stay signed in" session lasts one day from sign-in, active or not.

Guessing is slowed by two kinds of rule, both counted over ``LOCK_WINDOW``: a ``Limit``
locks a key (an email from one address, an address) out for ``LOCK_DURATION`` once it has
``failures`` failures; a ``Delay`` never locks, but once a key (an email, whoever types it)
has ``after`` failures, each further attempt must wait 1, 2, 4 ... seconds after the latest
failure, up to ``cap``. A lock on an email alone would let anyone lock its owner out; a delay
only makes the owner wait, at most ``cap``.
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
FAILURES_PER_EMAIL_AND_SOURCE = 5  # lock that email from that address only
FAILURES_PER_SOURCE = 20  # lock the address, whatever the emails
FAILURES_BEFORE_EMAIL_DELAY = 5  # then 1, 2, 4 ... s between attempts on the email
EMAIL_DELAY_CAP = dt.timedelta(seconds=60)
# A browser that has signed in to an email before carries a device cookie for it (30 days):
# it is not held up by the email's delay, so guessers cannot make its owner race them for
# each slot; the cookie has a lock of its own instead, in case it is stolen.
DEVICE_LIFETIME = dt.timedelta(days=30)
FAILURES_PER_DEVICE = 5
FAILURES_PER_SECOND_FACTOR = 5  # per user and address: lock that user from that address
FAILURES_BEFORE_SECOND_FACTOR_DELAY = 5  # per user, from anywhere
# Longer than the email's: whoever types codes already knows the password, and 6 digits are
# few. Failures count for an hour (at a 300 s cap, over 15 minutes too few would stay counted
# to keep the wait up). A guesser trying the moment it may gets 24 codes in the first hour and
# 13 an hour after (tests/store/test_sessions.py), against 20 an hour with the 15-minute lock
# before, while the owner waits at most 5 minutes instead of 15.
SECOND_FACTOR_DELAY_CAP = dt.timedelta(seconds=300)
SECOND_FACTOR_DELAY_WINDOW = dt.timedelta(hours=1)


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


@dataclass(frozen=True)
class Delay:
    """Once ``key`` has ``after`` failures within ``window``, each further attempt waits
    after the latest failure: 1 s after the ``after``-th, then 2, 4 ... s, at most ``cap``.

    ``window`` must hold enough failures at the cap to keep the wait there (``cap`` times
    ``after`` plus about log2(``cap``) ≪ ``window``), or the wait would fall back to nothing
    and let a burst through: 60 s over 15 minutes holds 15; 300 s needs an hour.
    """

    key: bytes
    after: int
    cap: dt.timedelta
    window: dt.timedelta = LOCK_WINDOW


def delayed_until(
    failures: Sequence[dt.datetime],
    now: dt.datetime,
    after: int,
    cap: dt.timedelta,
    window: dt.timedelta = LOCK_WINDOW,
) -> dt.datetime | None:
    """When the next attempt may be made, given these failures (None: no delay applies).

    Only failures within ``window`` before ``now`` count; attempts refused for being too
    soon are not failures (nothing was checked), so they do not lengthen the wait.
    """
    recent = sorted(t for t in failures if now - t < window)
    if len(recent) < after:
        return None
    doublings = len(recent) - after
    # 2**doublings overflows a timedelta long before it matters: cap the exponent first.
    wait = cap if doublings >= 32 else min(cap, dt.timedelta(seconds=2**doublings))
    return recent[-1] + wait


def seconds_left(until: dt.datetime, now: dt.datetime) -> int:
    """Whole seconds to wait, rounded up (never 0 while still refused): ``Retry-After``."""
    return max(1, math.ceil((until - now).total_seconds()))


def minutes_left(until: dt.datetime, now: dt.datetime) -> int:
    """Whole minutes to wait, rounded up (never 0 while still locked)."""
    return max(1, math.ceil((until - now).total_seconds() / 60))


def too_many_attempts(until: dt.datetime, now: dt.datetime) -> str:
    """The message for an attempt refused until ``until``: in seconds under a minute
    (a delay), in minutes otherwise (a lock)."""
    seconds = seconds_left(until, now)
    if seconds < 60:
        return f"Too many attempts. Try again in {seconds} second{'s' if seconds != 1 else ''}."
    minutes = minutes_left(until, now)
    return f"Too many attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
