"""The bridge's directory keeps the PIN lengths in use in memory: read again in the
background when this process wrote a PIN, or every few seconds, never per digit or call."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from callroster.accounts.actor import Role, operator_cli
from callroster.bridge.directory import PIN_LENGTHS_MAX_AGE, StoreDirectory
from callroster.store.accounts import PinLengths
from callroster.store.store import Store

OPERATOR = operator_cli("test")


class Seams:
    """A fake monotonic clock, the background refreshes asked for (run when the test says),
    and how many times the store was asked for the lengths."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 100.0
        self.pending: list[Callable[[], None]] = []
        self.queries = 0
        read = store.conferences.pin_lengths_in_use

        def counted() -> frozenset[int]:
            self.queries += 1
            return read()

        monkeypatch.setattr(store.conferences, "pin_lengths_in_use", counted)

    def run_pending(self) -> None:
        while self.pending:
            self.pending.pop(0)()


def _directory(store: Store, seams: Seams) -> StoreDirectory:
    return StoreDirectory(store, monotonic=lambda: seams.now, in_background=seams.pending.append)


def _host(store: Store) -> tuple[str, str]:
    account_id = store.accounts.create_account(OPERATOR, "Hale & Partners LLP", "london")
    return account_id, store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace")


def test_lengths_are_answered_from_memory_and_refreshed_on_a_write(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    seams = Seams(store, monkeypatch)
    directory = _directory(store, seams)
    assert directory.pin_lengths() == frozenset({8})  # no conference yet: the default
    assert seams.queries == 1 and seams.pending == []

    account_id, host_id = _host(store)
    store.conferences.create_conference(OPERATOR, host_id, "T")
    assert directory.pin_lengths() == frozenset({8})  # the last reading, at once
    assert len(seams.pending) == 1  # a write here: read again, in the background
    assert directory.pin_lengths() == frozenset({8}) and len(seams.pending) == 1  # only one
    seams.run_pending()
    assert directory.pin_lengths() == frozenset({8, 10})
    assert seams.pending == [] and seams.queries == 2

    for _ in range(1000):  # a thousand calls keying PINs: no query
        directory.pin_lengths()
    assert seams.queries == 2 and seams.pending == []

    store.accounts.set_pin_lengths(OPERATOR, account_id, PinLengths(6, 12))
    store.conferences.create_conference(OPERATOR, host_id, "U")
    directory.pin_lengths()
    seams.run_pending()
    assert directory.pin_lengths() == frozenset({6, 8, 10, 12})


def test_another_process_s_pins_are_seen_within_the_max_age(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    seams = Seams(store, monkeypatch)
    directory = _directory(store, seams)
    _, host_id = _host(store)
    store.conferences.create_conference(OPERATOR, host_id, "T")
    directory.pin_lengths()
    seams.run_pending()
    queries = seams.queries
    seams.now += PIN_LENGTHS_MAX_AGE - 0.1
    directory.pin_lengths()
    assert seams.pending == []
    seams.now += 0.1
    directory.pin_lengths()
    assert len(seams.pending) == 1
    seams.run_pending()
    assert seams.queries == queries + 1
