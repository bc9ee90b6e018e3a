"""When a leg's media problem shows, and when it goes (callroster.bridge.media_health)."""

from __future__ import annotations

from callroster.bridge.media_health import QUIET_FOR, SEND_FAILING_FOR, MediaHealth
from callroster.bridge.rtp_session import RtpCounters


def _run(
    health: MediaHealth, counters: RtpCounters, seconds: int, start: float, **per_second: int
) -> list[str | None]:
    seen = []
    for second in range(1, seconds + 1):
        for name, step in per_second.items():
            setattr(counters, name, getattr(counters, name) + step)
        seen.append(health.check(counters, start + second, expecting=True))
    return seen


def test_a_healthy_leg_has_no_problem() -> None:
    health, counters = MediaHealth(0.0), RtpCounters()
    assert set(_run(health, counters, 60, 0.0, received=50, sent=50)) == {None}


def test_sending_that_keeps_failing_shows_after_two_seconds_and_clears() -> None:
    health, counters = MediaHealth(0.0), RtpCounters()
    seen = _run(health, counters, 4, 0.0, received=50, send_failures=50)
    assert seen[: int(SEND_FAILING_FOR) - 1] == [None] * (int(SEND_FAILING_FOR) - 1)
    assert seen[-1] == "cannot_send"
    assert _run(health, counters, 1, 4.0, received=50, sent=50) == [None]


def test_silence_from_the_phone_shows_after_ten_seconds_and_clears_when_it_sends() -> None:
    health, counters = MediaHealth(0.0), RtpCounters()
    seen = _run(health, counters, int(QUIET_FOR) + 1, 0.0, sent=50)
    assert seen[: int(QUIET_FOR) - 1] == [None] * (int(QUIET_FOR) - 1)
    assert seen[-1] == "nothing_received"
    assert _run(health, counters, 1, QUIET_FOR + 1, received=1) == [None]


def test_media_arriving_from_elsewhere_is_told_apart() -> None:
    health, counters = MediaHealth(0.0), RtpCounters()
    seen = _run(health, counters, int(QUIET_FOR) + 1, 0.0, from_strangers=50)
    assert seen[-1] == "media_from_elsewhere"


def test_a_phone_that_holds_us_is_not_expected_to_send() -> None:
    health, counters = MediaHealth(0.0), RtpCounters()
    assert {health.check(counters, t, expecting=False) for t in range(1, 30)} == {None}
