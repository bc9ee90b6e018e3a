"""How often, and when, a PIN may be checked for a caller: the bridge's defence against PIN
guessing by phone. Pure: addresses and ``now`` in, decisions out.

Every PIN check (a PIN keyed at the prompt, or dialled directly in the request URI, which is
answered exactly like a wrong one until it is checked) is queued with :meth:`PinGuard.request`;
the bridge asks :meth:`PinGuard.due` every tick which queued checks may run now, and reports
each outcome with :meth:`PinGuard.outcome`. What an attacker can learn is bounded by the
checks that run:

- **Per source** (an IPv4 address, or an IPv6 /64), checks run one at a time, at least
  :attr:`GuardPolicy.spacing` apart, however many calls the source has open; after
  :attr:`GuardPolicy.free_failures` failures within :attr:`GuardPolicy.window`, each further
  check waits twice as long as the last (from :attr:`GuardPolicy.backoff` up to
  :attr:`GuardPolicy.backoff_max`); at :attr:`GuardPolicy.block_after` failures the source
  is blocked for :attr:`GuardPolicy.block_for` (its calls are refused before any PIN is
  looked at).
- **System-wide**, when :attr:`GuardPolicy.alarm_failures` checks failed in the last
  minute (many sources guessing at once), the checks of every source that has not given a
  right PIN in the last day share :attr:`GuardPolicy.alarm_per_minute` a minute, until a
  quiet minute passes. The source with the fewest failures goes first, so a caller from a new
  address keying the right PIN waits about one share, not behind the guessers. Sources that
  gave a right PIN lately are not held back.

Limits: state is per bridge process and lost on restart; an attacker with many addresses
still learns up to the alarm's rate while it lasts (and each new address of its goes ahead
of the ones that failed); a PIN check of a call that hangs up while queued is dropped.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Hashable
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


def source_key(source: str) -> str:
    """Whose budget a source address spends: its own (IPv4), its /64 (IPv6, where one
    subscriber has a whole /64 to send from)."""
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return source
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return source


@dataclass(frozen=True)
class GuardPolicy:
    spacing: float = 1.0  # seconds between two checks of one source, at the least
    free_failures: int = 3  # failures in the window before checks slow down
    backoff: float = 2.0  # the first slowed check waits this long after the last one...
    backoff_max: float = 30.0  # ...doubling each time, up to this
    block_after: int = 10  # failures in the window that block the source
    block_for: float = 900.0
    window: float = 3600.0
    alarm_failures: int = 10  # failures system-wide in a minute that raise the alarm
    alarm_per_minute: float = 50.0  # checks of unknown sources a minute while it lasts
    known_for: float = 86400.0  # a source that gave a right PIN this recently is known


POLICY_DEFAULT = GuardPolicy()
_FORGET_ABOVE = 10_000  # sources remembered before the idle ones are dropped


@dataclass
class _Source:
    failures: deque[float] = field(default_factory=deque)  # times, within the window
    next_check: float = 0.0
    blocked_until: float = 0.0
    known_until: float = 0.0
    checks: int = 0  # ever, while remembered (a metric)
    unknown_in_flight: int = 0  # checks let run while it was unknown, outcome not yet in


@dataclass(frozen=True)
class GuardEvent:
    """Something an operator must hear of: ``blocked`` (a source, for ``until``) or
    ``alarm`` (system-wide guessing began)."""

    kind: str
    source: str | None
    failures: int
    until: float | None = None


@dataclass(eq=False)
class _Pending:
    key: str
    ticket: Hashable
    since: float


@dataclass(frozen=True)
class Due:
    """What :meth:`PinGuard.due` lets go: checks to ``run`` now, and the calls to
    ``refuse`` (their source was blocked while they waited)."""

    run: list[Hashable]
    refuse: list[Hashable]


NOTHING_DUE = Due([], [])


class PinGuard:
    def __init__(self, policy: GuardPolicy | None = None) -> None:
        self.policy = policy or POLICY_DEFAULT
        self._sources: dict[str, _Source] = {}
        self._forget_above = _FORGET_ABOVE
        self._pending: list[_Pending] = []
        self._recent_failures: deque[float] = deque()  # system-wide, the last minute
        self._alarm_until = 0.0
        self._unknown_in_flight = 0
        self._tokens = 0.0  # the alarm's share of checks, refilled at alarm_per_minute
        self._tokens_at = 0.0
        self.checks = 0
        self.failures = 0
        self.blocked_calls = 0
        self.blocks = 0  # sources blocked, ever
        self.alarms = 0  # times the guessing alarm went up
        self.events: list[GuardEvent] = []  # for the caller to drain (audit, log)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def alarmed(self, now: float) -> bool:
        return now < self._alarm_until

    def blocked(self, source: str, now: float) -> bool:
        """True while ``source`` is blocked: refuse its call before looking at any PIN."""
        state = self._sources.get(source_key(source))
        if state is not None and now < state.blocked_until:
            self.blocked_calls += 1
            return True
        return False

    def request(self, source: str, ticket: Hashable, now: float) -> None:
        """Queue a PIN check (``ticket`` names it to the caller) for a call from ``source``."""
        key = source_key(source)
        self._state(key, now)
        self._pending.append(_Pending(key, ticket, now))
        if len(self._sources) > self._forget_above:  # (amortised: bounds memory under a flood)
            self.forget_idle(now)
            self._forget_above = max(_FORGET_ABOVE, 2 * len(self._sources))

    def cancel(self, ticket: Hashable) -> None:
        """Drop a queued check (its call has gone)."""
        self._pending = [p for p in self._pending if p.ticket != ticket]

    def due(self, now: float) -> Due:
        """The queued checks that may run now, each taken off the queue with its source's
        next turn set; and the queued calls of sources blocked meanwhile, to refuse.

        Checks of unknown sources (no right PIN lately) are let run only while the failures
        they could add stay under the alarm's threshold (recent failures plus those still
        being checked); once the alarm is up, at :attr:`GuardPolicy.alarm_per_minute`, the
        source with the fewest failures first.
        """
        if not self._pending:
            return NOTHING_DUE
        recent = self._recent_failures
        while recent and recent[0] <= now - 60.0:
            recent.popleft()
        alarmed = self.alarmed(now)
        if alarmed:
            rate = self.policy.alarm_per_minute / 60.0
            self._tokens = min(1.0, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        refuse = [p for p in self._pending if now < self._sources[p.key].blocked_until]
        ready: list[_Pending] = []
        taken: set[str] = set()
        for pending in self._pending:  # oldest first; one per source
            state = self._sources[pending.key]
            if pending.key not in taken and now >= state.next_check:
                if now < state.blocked_until:
                    continue
                ready.append(pending)
                taken.add(pending.key)
        unknown = [p for p in ready if now >= self._sources[p.key].known_until]
        # Fewest failures first, and among those the newest: a guesser's queued first tries
        # wait behind a caller who has just keyed a PIN.
        unknown.sort(key=lambda p: (len(self._sources[p.key].failures), -p.since))
        if alarmed:
            allowed = int(self._tokens)
            self._tokens -= min(len(unknown), allowed)
        else:
            headroom = len(self._recent_failures) + self._unknown_in_flight
            allowed = max(0, self.policy.alarm_failures - headroom)
        held = {id(p) for p in unknown[allowed:]}
        ready = [p for p in ready if id(p) not in held]
        # One pass over the queue, not a removal per check: it runs every tick while a flood
        # of calls may have hundreds queued.
        gone = {id(p) for p in ready} | {id(p) for p in refuse}
        if gone:
            self._pending = [p for p in self._pending if id(p) not in gone]
        for pending in ready:
            state = self._sources[pending.key]
            if now >= state.known_until:
                state.unknown_in_flight += 1
                self._unknown_in_flight += 1
            over = len(state.failures) - self.policy.free_failures
            gap = (
                self.policy.spacing
                if over < 0
                else min(self.policy.backoff * 2**over, self.policy.backoff_max)
            )
            state.next_check = now + gap
        return Due([p.ticket for p in ready], [p.ticket for p in refuse])

    def abandoned(self, source: str) -> None:
        """A check let run was not made (its call had gone): no outcome will come."""
        state = self._sources.get(source_key(source))
        if state is not None and state.unknown_in_flight:
            state.unknown_in_flight -= 1
            self._unknown_in_flight -= 1

    def outcome(self, source: str, accepted: bool, now: float) -> None:
        """A check for ``source`` ran: the PIN was right (``accepted``) or not."""
        policy = self.policy
        key = source_key(source)
        state = self._state(key, now)
        self.checks += 1
        state.checks += 1
        if state.unknown_in_flight:
            state.unknown_in_flight -= 1
            self._unknown_in_flight -= 1
        if accepted:
            state.known_until = now + policy.known_for
            return
        self.failures += 1
        state.failures.append(now)
        recent = self._recent_failures
        recent.append(now)
        while recent and recent[0] <= now - 60.0:
            recent.popleft()
        if len(recent) >= policy.alarm_failures:
            if not self.alarmed(now):
                self.alarms += 1
                self.events.append(GuardEvent("alarm", None, len(recent)))
                self._tokens, self._tokens_at = 0.0, now
            self._alarm_until = now + 60.0
        if len(state.failures) >= policy.block_after and now >= state.blocked_until:
            state.blocked_until = now + policy.block_for
            state.failures.clear()
            self.blocks += 1
            self.events.append(
                GuardEvent("blocked", source, policy.block_after, state.blocked_until)
            )

    def checks_from(self, source: str) -> int:
        """PIN checks made for ``source`` (while it is remembered)."""
        state = self._sources.get(source_key(source))
        return state.checks if state is not None else 0

    def _state(self, key: str, now: float) -> _Source:
        state = self._sources.get(key)
        if state is None:
            state = self._sources[key] = _Source()
        window_start = now - self.policy.window
        while state.failures and state.failures[0] <= window_start:
            state.failures.popleft()
        return state

    def forget_idle(self, now: float) -> None:
        """Drops sources with nothing left to remember (call now and then: bounds memory)."""
        queued = {p.key for p in self._pending}
        for key in list(self._sources):
            self._state(key, now)  # (expires old failures)
        for key in [
            k
            for k, state in self._sources.items()
            if k not in queued
            and not state.failures
            and now >= state.blocked_until
            and now >= state.known_until
            and now >= state.next_check
            and not state.unknown_in_flight
        ]:
            del self._sources[key]
