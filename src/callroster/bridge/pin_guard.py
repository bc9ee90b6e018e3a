"""How often, and when, a PIN may be checked for a caller: the bridge's defence against PIN
guessing by phone. Pure: addresses and ``now`` in, times and decisions out.

Every PIN check (a PIN keyed at the prompt, or dialled directly in the request URI, which is
answered exactly like a wrong one until it is checked) first asks :meth:`PinGuard.slot` when
it may run, and reports its outcome with :meth:`PinGuard.outcome`. What an attacker can learn
is bounded by the checks that run:

- **Per source address**, checks run one at a time at least :attr:`GuardPolicy.spacing`
  apart, however many calls the source has open; after :attr:`GuardPolicy.free_failures`
  failures within :attr:`GuardPolicy.window`, each further check waits twice as long as the
  last (from :attr:`GuardPolicy.backoff` up to :attr:`GuardPolicy.backoff_max`); at
  :attr:`GuardPolicy.block_after` failures the source is blocked for
  :attr:`GuardPolicy.block_for` (its calls are refused before any PIN is looked at).
- **System-wide**, when more than :attr:`GuardPolicy.alarm_failures` checks failed in the
  last minute (many addresses guessing at once), every source that has not given a right PIN
  in the last day waits its turn in one queue, :attr:`GuardPolicy.alarm_spacing` apart, until
  a quiet minute passes. Sources that have given a right PIN lately are not queued.

Limits: state is per bridge process and lost on restart; an attacker with many addresses
still learns up to the alarm's rate (about 60 answers a minute with the defaults) while it
lasts, and a legitimate caller from an unknown address waits in the same queue then.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field


def network_of(source: str) -> str:
    """The network a source address is in (an IPv4 /24, an IPv6 /48), as the logs and the
    audit log name a guesser: enough to block it at a firewall, not a person's address."""
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return "unknown"
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True)
class GuardPolicy:
    spacing: float = 1.0  # seconds between two checks of one source, at the least
    free_failures: int = 3  # failures in the window before checks slow down
    backoff: float = 2.0  # the first slowed check waits this long after the last one...
    backoff_max: float = 30.0  # ...doubling each time, up to this
    block_after: int = 10  # failures in the window that block the source
    block_for: float = 900.0
    window: float = 3600.0
    alarm_failures: int = 20  # failures system-wide in a minute that raise the alarm
    alarm_spacing: float = 1.5  # seconds between checks of unknown sources while it lasts
    known_for: float = 86400.0  # a source that gave a right PIN this recently is known


POLICY_DEFAULT = GuardPolicy()


@dataclass
class _Source:
    failures: deque[float] = field(default_factory=deque)  # times, within the window
    next_slot: float = 0.0
    blocked_until: float = 0.0
    known_until: float = 0.0


@dataclass(frozen=True)
class GuardEvent:
    """Something an operator must hear of: ``blocked`` (a source, for ``until``) or
    ``alarm`` (system-wide guessing began)."""

    kind: str
    source: str | None
    failures: int
    until: float | None = None


class PinGuard:
    def __init__(self, policy: GuardPolicy | None = None) -> None:
        self.policy = policy or GuardPolicy()
        self._sources: dict[str, _Source] = {}
        self._recent_failures: deque[float] = deque()  # system-wide, the last minute
        self._alarm_until = 0.0
        self._next_alarm_slot = 0.0
        self.checks = 0
        self.failures = 0
        self.blocked_calls = 0
        self.events: list[GuardEvent] = []  # for the caller to drain (audit, metric)

    def alarmed(self, now: float) -> bool:
        return now < self._alarm_until

    def blocked(self, source: str, now: float) -> bool:
        """True while ``source`` is blocked: refuse its call before looking at any PIN."""
        state = self._sources.get(source)
        if state is not None and now < state.blocked_until:
            self.blocked_calls += 1
            return True
        return False

    def slot(self, source: str, now: float) -> float:
        """When a PIN check for a call from ``source`` may run (``now`` or later); the slot
        is taken, so a second check asked for at once comes after it."""
        policy = self.policy
        state = self._state(source, now)
        at = max(now, state.next_slot)
        over = len(state.failures) - policy.free_failures
        gap = policy.spacing if over < 0 else min(policy.backoff * 2**over, policy.backoff_max)
        if self.alarmed(now) and now >= state.known_until:
            at = max(at, self._next_alarm_slot)
            self._next_alarm_slot = at + policy.alarm_spacing
        state.next_slot = at + gap
        return at

    def outcome(self, source: str, accepted: bool, now: float) -> None:
        """A check for ``source`` ran: the PIN was right (``accepted``) or not."""
        policy = self.policy
        state = self._state(source, now)
        self.checks += 1
        if accepted:
            state.known_until = now + policy.known_for
            return
        self.failures += 1
        state.failures.append(now)
        recent = self._recent_failures
        recent.append(now)
        while recent and recent[0] <= now - 60.0:
            recent.popleft()
        if len(recent) > policy.alarm_failures:
            if not self.alarmed(now):
                self.events.append(GuardEvent("alarm", None, len(recent)))
            self._alarm_until = now + 60.0
        if len(state.failures) >= policy.block_after and now >= state.blocked_until:
            state.blocked_until = now + policy.block_for
            state.failures.clear()
            self.events.append(
                GuardEvent("blocked", source, policy.block_after, state.blocked_until)
            )

    def _state(self, source: str, now: float) -> _Source:
        state = self._sources.get(source)
        if state is None:
            state = self._sources[source] = _Source()
        window_start = now - self.policy.window
        while state.failures and state.failures[0] <= window_start:
            state.failures.popleft()
        return state

    def forget_idle(self, now: float) -> None:
        """Drops sources with nothing left to remember (call now and then: bounds memory)."""
        for source in [
            s
            for s, state in self._sources.items()
            if not state.failures
            and now >= state.blocked_until
            and now >= state.known_until
            and now >= state.next_slot
        ]:
            del self._sources[source]
