from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callroster.api.rate_limit import SlidingWindow, take


def test_a_key_is_held_to_its_limit_within_the_window_and_freed_after() -> None:
    window = SlidingWindow(limit=2, window=600)
    assert window.retry_after("a", 0) == 0
    window.record("a", 0)
    window.record("a", 100)
    assert window.retry_after("a", 200) == 400  # the first call leaves the window at 600
    assert window.retry_after("b", 200) == 0  # other keys are not held
    assert window.retry_after("a", 600) == 0
    window.record("a", 600)
    assert window.retry_after("a", 650) == 50


def test_a_limit_of_zero_allows_nothing() -> None:
    assert SlidingWindow(limit=0, window=600).retry_after("a", 0) == 600


def test_forgotten_keys_do_not_accumulate() -> None:
    window = SlidingWindow(limit=1, window=10)
    for i in range(100):
        window.record(f"k{i}", i)
    for i in range(100):
        window.retry_after(f"k{i}", 1000)
    assert window.keys() == 0


@given(st.lists(st.floats(min_value=0, max_value=5000), max_size=200), st.integers(0, 5))
def test_never_more_than_the_limit_in_any_window(times: list[float], limit: int) -> None:
    window = SlidingWindow(limit=limit, window=600)
    allowed: list[float] = []
    for now in sorted(times):
        if window.retry_after("k", now) == 0:
            window.record("k", now)
            allowed.append(now)
    for t in allowed:
        assert len([u for u in allowed if t <= u < t + 600]) <= limit


def test_take_checks_every_window_and_counts_in_all_or_none() -> None:
    per_page, per_account = SlidingWindow(limit=1, window=600), SlidingWindow(limit=5, window=60)
    windows = [(per_page, "page"), (per_account, "acct")]
    assert take(windows, 0) == 0
    assert take(windows, 1) == 599  # the page's window is full: nothing is counted
    assert per_account.retry_after("acct", 1) == 0 and take([(per_account, "acct")], 1) == 0
    per_page.forget("page", 0)  # the call was not placed after all
    assert take(windows, 2) == 0


def test_forget_takes_back_one_event_only() -> None:
    window = SlidingWindow(limit=2, window=600)
    window.record("a", 5)
    window.record("a", 5)
    window.forget("a", 5)
    assert window.retry_after("a", 6) == 0
    window.forget("a", 5)
    window.forget("a", 5)  # nothing left to forget: no error
    assert window.keys() == 0
