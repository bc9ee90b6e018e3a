"""The bounds on browser joins still connecting (bridge/web_pending.py), on a fake ``now``."""

from __future__ import annotations

import pytest

from callroster.bridge.web_pending import PendingJoins, Refused, WebJoinLimits

LIMITS = WebJoinLimits(per_conference=10, per_address=5, connect_within=10.0)


def test_an_address_holds_five_pending_joins_and_learns_when_one_frees() -> None:
    pending = PendingJoins(LIMITS)
    for n in range(5):
        assert pending.reserve(f"leg-{n}", "conf-1", "192.0.2.7", 100.0 + n) is None
    refused = pending.reserve("leg-5", "conf-1", "192.0.2.7", 106.0)
    # The oldest of the five is due at 110: a place frees then at the latest.
    assert refused == Refused("per_address", 4.0)
    assert refused.retry_after_header == "4"
    assert "leg-5" not in pending and len(pending) == 5
    # Another conference does not help: the bound is the address's, across conferences.
    assert pending.refuse("conf-2", "192.0.2.7", 106.0) == Refused("per_address", 4.0)
    # Another address is not held back.
    assert pending.reserve("leg-6", "conf-1", "192.0.2.8", 106.0) is None
    # One connects (or leaves): its place is free at once.
    pending.discard("leg-2")
    assert pending.reserve("leg-7", "conf-1", "192.0.2.7", 106.5) is None
    assert pending.from_source("192.0.2.7") == 5


def test_a_conference_holds_ten_pending_joins_from_any_addresses() -> None:
    pending = PendingJoins(LIMITS)
    for n in range(10):
        assert pending.reserve(f"leg-{n}", "conf-1", f"198.51.100.{n}", 50.0) is None
    refused = pending.reserve("late", "conf-1", "198.51.100.99", 52.5)
    assert refused == Refused("per_conference", 7.5)
    assert pending.in_conference("conf-1") == 10
    assert pending.reserve("other", "conf-2", "198.51.100.99", 52.5) is None


def test_an_ipv6_slash_64_is_one_address() -> None:
    pending = PendingJoins(LIMITS)
    for n in range(5):
        assert pending.reserve(f"leg-{n}", "conf-1", f"2001:db8:1:2::{n + 1}", 0.0) is None
    refused = pending.refuse("conf-1", "2001:db8:1:2:ffff::9", 1.0)
    assert refused is not None and refused.reason == "per_address"
    assert pending.refuse("conf-1", "2001:db8:1:3::1", 1.0) is None  # the next /64


def test_joins_fall_due_in_order_and_only_once_discarded_stop_counting() -> None:
    pending = PendingJoins(LIMITS)
    for n, at in enumerate((0.0, 1.0, 2.0)):
        pending.reserve(f"leg-{n}", "conf-1", "192.0.2.1", at)
    assert pending.overdue(9.99) == []
    assert pending.overdue(10.0) == ["leg-0"]
    assert pending.overdue(11.5) == ["leg-0", "leg-1"]
    assert len(pending) == 3  # overdue joins count until the bridge has dropped them
    for leg_id in pending.overdue(11.5):
        assert pending.discard(leg_id) is not None
    assert pending.discard("leg-0") is None  # idempotent
    assert pending.overdue(100.0) == ["leg-2"]
    assert pending.from_source("192.0.2.1") == 1 and pending.in_conference("conf-1") == 1
    pending.discard("leg-2")
    assert len(pending) == 0 and pending.from_source("192.0.2.1") == 0


@pytest.mark.parametrize("wait", [0.0, 0.2, 3.0001])
def test_retry_after_is_a_whole_second_at_least(wait: float) -> None:
    assert int(Refused("per_address", wait).retry_after_header) >= max(1, wait)
