"""The PIN guard alone (callroster.bridge.pin_guard): how fast one source, and many, can
have PINs checked, when a source is blocked, and that a caller who knows the PIN is not
held up."""

from __future__ import annotations

from callroster.bridge.pin_guard import GuardPolicy, PinGuard, network_of

POLICY = GuardPolicy()


def _guess(guard: PinGuard, source: str, now: float, *, right: bool = False) -> float:
    """One check for ``source`` asked for at ``now``: when it ran (its outcome reported)."""
    at = guard.slot(source, now)
    guard.outcome(source, right, at)
    return at


def _answers_in_a_minute(guard: PinGuard, sources: list[str], start: float) -> int:
    """A guesser that asks again as soon as each answer comes, from every source at once,
    for a minute (a blocked source's calls are refused): how many answers it learnt."""
    learnt = 0
    ready = dict.fromkeys(sources, start)
    while True:
        source, now = min(ready.items(), key=lambda item: item[1])
        if now >= start + 60:
            return learnt
        if guard.blocked(source, now):
            ready[source] = now + 1.0  # refused; try again later
            continue
        at = guard.slot(source, now)
        if at < start + 60:
            guard.outcome(source, False, at)
            learnt += 1
        ready[source] = at + 0.5  # the guesser hears the answer and keys again


def test_one_caller_with_the_right_pin_is_checked_at_once() -> None:
    guard = PinGuard()
    assert _guess(guard, "127.0.0.5", 100.0, right=True) == 100.0
    assert guard.checks == 1 and guard.events == []


def test_one_source_slows_down_then_is_blocked_and_logged() -> None:
    guard = PinGuard()
    times = [_guess(guard, "127.0.0.9", 0.0) for _ in range(POLICY.block_after)]
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)]
    # A second apart, as long as the free failures last, then doubling from 2 s.
    assert gaps[: POLICY.free_failures] == [1.0] * POLICY.free_failures
    assert gaps[POLICY.free_failures :] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert guard.blocked("127.0.0.9", times[-1] + 1)
    assert not guard.blocked("127.0.0.10", times[-1] + 1)  # its neighbour is not
    assert not guard.blocked("127.0.0.9", times[-1] + POLICY.block_for + 1)
    [event] = guard.events
    assert (event.kind, event.source, event.failures) == ("blocked", "127.0.0.9", 10)


def test_parallel_calls_from_one_source_do_not_check_faster() -> None:
    guard = PinGuard()
    slots = [guard.slot("127.0.0.9", 0.0) for _ in range(100)]  # 100 calls at the same time
    assert slots[:3] == [0.0, 1.0, 2.0] and slots[-1] == 99.0


def test_one_source_learns_at_most_ten_answers_a_minute_and_ten_in_all_before_its_block() -> None:
    guard = PinGuard()
    minutes = [_answers_in_a_minute(guard, ["127.0.0.9"], 60.0 * m) for m in range(5)]
    assert max(minutes) <= 10 and sum(minutes) == POLICY.block_after
    [event] = guard.events
    assert event.kind == "blocked" and guard.blocked("127.0.0.9", event.until - 1)


def test_fifty_sources_learn_at_most_about_sixty_answers_a_minute_and_the_alarm_is_raised() -> None:
    guard = PinGuard()
    sources = [f"127.0.0.{n}" for n in range(10, 60)]
    first = _answers_in_a_minute(guard, sources, 0.0)
    assert first <= POLICY.alarm_failures + 60 / POLICY.alarm_spacing + 1
    assert [e.kind for e in guard.events if e.kind == "alarm"] == ["alarm"]
    assert _answers_in_a_minute(guard, sources, 60.0) <= 60 / POLICY.alarm_spacing + 1
    # Positive control: without the alarm (a guard that never raises it) far more get out.
    lax = PinGuard(GuardPolicy(alarm_failures=10**9))
    assert _answers_in_a_minute(lax, sources, 0.0) > 3 * first


def test_a_known_caller_is_not_queued_behind_the_guessers() -> None:
    guard = PinGuard()
    _guess(guard, "127.0.0.200", 0.0, right=True)  # gave a right PIN this morning
    for n in range(30):
        _guess(guard, f"127.0.1.{n}", 10.0)  # the alarm goes up
    assert guard.alarmed(10.0)
    assert guard.slot("127.0.0.200", 11.0) == 11.0  # known: at once
    assert guard.slot("127.0.0.201", 11.0) > 11.0  # unknown: waits its turn


def test_idle_sources_are_forgotten() -> None:
    guard = PinGuard()
    _guess(guard, "127.0.0.9", 0.0)
    guard.forget_idle(POLICY.window + 10)
    assert guard.slot("127.0.0.9", POLICY.window + 10) == POLICY.window + 10


def test_logs_name_the_network_not_the_address() -> None:
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("not an address") == "unknown"
