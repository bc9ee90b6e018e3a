"""The PIN guard alone (callroster.bridge.pin_guard): how fast one source, and many, can
have PINs checked, when a source is blocked, and that a caller with the right PIN is not
held up behind guessers."""

from __future__ import annotations

import itertools
from collections.abc import Hashable

from callroster.bridge.pin_guard import GuardPolicy, PinGuard, network_of, source_key

POLICY = GuardPolicy()
TICK = 0.02


class _Attack:
    """Guessers on a 20 ms clock: each source keeps ``parallel`` wrong-PIN checks queued and
    queues another as soon as one is answered; ``right`` sources key the right PIN once."""

    def __init__(self, guard: PinGuard, sources: list[str], parallel: int = 2) -> None:
        self.guard, self.sources, self.parallel = guard, sources, parallel
        self.now = 0.0
        self.numbers = itertools.count()
        self.owner: dict[Hashable, tuple[str, bool]] = {}
        self.answers: dict[str, int] = dict.fromkeys(sources, 0)
        for source in sources:
            for _ in range(parallel):
                self._queue(source, right=False)

    def _queue(self, source: str, right: bool) -> Hashable:
        ticket = next(self.numbers)
        self.owner[ticket] = (source, right)
        self.guard.request(source, ticket, self.now)
        return ticket

    def run(self, seconds: float, until: Hashable | None = None) -> float | None:
        """Runs; returns when ``until`` was checked (None if not)."""
        end = self.now + seconds
        while self.now < end:
            due = self.guard.due(self.now)
            for ticket in due.refuse:
                self.owner.pop(ticket)
            for ticket in due.run:
                source, right = self.owner.pop(ticket)
                self.guard.outcome(source, right, self.now)
                if ticket == until:
                    return self.now
                if not right:
                    self.answers[source] = self.answers.get(source, 0) + 1
                    if not self.guard.blocked(source, self.now):
                        self._queue(source, right=False)
            self.now += TICK
        return None


def test_one_caller_with_the_right_pin_is_checked_at_once() -> None:
    guard = PinGuard()
    guard.request("127.0.0.5", "call", 100.0)
    assert guard.due(100.0).run == ["call"]
    guard.outcome("127.0.0.5", True, 100.0)
    assert guard.events == [] and guard.pending == 0


def test_one_source_slows_down_is_blocked_after_ten_and_learns_at_most_ten_a_minute() -> None:
    guard = PinGuard()
    attack = _Attack(guard, ["127.0.0.9"], parallel=5)
    minutes = []
    for _ in range(5):
        before = attack.answers["127.0.0.9"]
        attack.run(60.0)
        minutes.append(attack.answers["127.0.0.9"] - before)
    assert max(minutes) <= 10 and sum(minutes) == POLICY.block_after
    assert minutes[0] == 8  # at 0, 1, 2, 3, 5, 9, 17 and 33 s
    [event] = guard.events
    assert (event.kind, event.source) == ("blocked", "127.0.0.9")
    assert guard.blocked("127.0.0.9", event.until - 1) and not guard.blocked("127.0.0.10", 1.0)
    assert (guard.blocks, guard.alarms, guard.failures) == (1, 0, POLICY.block_after)  # metrics


def test_fifty_sources_learn_at_most_sixty_a_minute_and_a_new_caller_is_not_held_up() -> None:
    guard = PinGuard()
    sources = [f"127.0.0.{n}" for n in range(10, 60)]
    attack = _Attack(guard, sources)
    attack.run(30.0)
    assert guard.alarmed(attack.now)
    # A caller from a new address keys the right PIN in the middle of it.
    ticket = attack._queue("127.0.0.200", right=True)
    started = attack.now
    checked = attack.run(30.0, until=ticket)
    assert checked is not None and checked - started <= 60 / POLICY.alarm_per_minute + TICK
    attack.run(30.0 - (attack.now - started))
    assert sum(attack.answers.values()) <= 60  # in the whole first minute
    assert [e.kind for e in guard.events] == ["alarm"] and guard.alarms == 1
    second = sum(attack.answers.values())
    attack.run(60.0)
    assert sum(attack.answers.values()) - second <= POLICY.alarm_per_minute + 1
    # Positive control: without the alarm, far more get out.
    lax = PinGuard(GuardPolicy(alarm_failures=10**9))
    unchecked = _Attack(lax, sources)
    unchecked.run(60.0)
    assert sum(unchecked.answers.values()) > 3 * 60


def test_a_known_caller_is_not_held_back_by_the_alarm() -> None:
    guard = PinGuard()
    guard.request("127.0.0.200", "morning", 0.0)
    guard.due(0.0)
    guard.outcome("127.0.0.200", True, 0.0)  # gave a right PIN this morning
    for n in range(30):
        guard.outcome(f"127.0.1.{n}", False, 10.0)  # the alarm goes up
    assert guard.alarmed(10.0)
    guard.request("127.0.0.200", "known", 11.0)
    guard.request("127.0.0.201", "unknown", 11.0)
    assert guard.due(11.0).run == ["known"]


def test_ipv6_sources_share_their_64_and_logs_name_the_network() -> None:
    assert source_key("2001:db8:1:2::5") == source_key("2001:db8:1:2:ffff::9")
    assert source_key("127.0.0.1") == "127.0.0.1"
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("not an address") == "unknown"


def test_idle_sources_are_forgotten() -> None:
    guard = PinGuard()
    guard.request("127.0.0.9", "a", 0.0)
    guard.due(0.0)
    guard.outcome("127.0.0.9", False, 0.0)
    guard.forget_idle(POLICY.window + 10)
    assert guard.checks_from("127.0.0.9") == 0  # forgotten


def test_a_flood_of_sources_is_forgotten_once_idle() -> None:
    guard = PinGuard()
    for n in range(30_000):  # each from its own address, each right: nothing to remember
        source = f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
        guard.request(source, n, float(n))
        assert guard.due(float(n)).run == [n]
        guard.outcome(source, True, float(n))
    assert len(guard._sources) == 30_000  # known callers are remembered for a day ...
    for n in range(30_000, 60_000):
        source = f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
        guard.request(source, n, 200_000.0 + n)
        guard.due(200_000.0 + n)
        guard.abandoned(source)
    assert len(guard._sources) <= 30_000  # ... and a day later the idle ones are dropped
