"""PIN lengths are an account setting (issue 12): guest 8 and host 10 digits by default, set
by the account within bounds, used by PINs made afterwards only; the lengths in use are
what the bridge's keypad waits for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.store import conferences as conferences_module
from callroster.store import migrate
from callroster.store.accounts import PinLengths
from callroster.store.database import open_engine
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.models import PinPrefix
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("test")


def _host(store: Store) -> tuple[str, str]:
    account_id = store.accounts.create_account(OPERATOR, "Hale & Partners LLP", "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
    return account_id, host_id


def _pins(store: Store, conference_id: str) -> tuple[int, int]:
    view = store.conferences.get_conference(OPERATOR, conference_id)
    assert view.pin.isdigit() and view.host_pin is not None and view.host_pin.isdigit()
    return len(view.pin), len(view.host_pin)


@pytest.mark.parametrize(
    ("guest", "host", "refusal"),
    [
        (5, 10, "a guest PIN is 6 to 12 digits"),
        (13, 14, "a guest PIN is 6 to 12 digits"),
        (6, 7, "a host PIN is 8 to 12 digits"),
        (8, 13, "a host PIN is 8 to 12 digits"),
        (10, 10, "a host PIN must be longer than a guest PIN"),
        (11, 9, "a host PIN must be longer than a guest PIN"),
    ],
)
def test_lengths_out_of_bounds_are_refused(guest: int, host: int, refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal):
        PinLengths(guest, host)


def test_new_pins_take_the_accounts_lengths_and_old_ones_keep_theirs(store: Store) -> None:
    account_id, host_id = _host(store)
    assert store.accounts.pin_lengths(OPERATOR, account_id) == PinLengths(8, 10)
    before = store.conferences.create_conference(OPERATOR, host_id, "Before")
    assert _pins(store, before) == (8, 10)
    old_pin = store.conferences.get_conference(OPERATOR, before).pin

    store.accounts.set_pin_lengths(OPERATOR, account_id, PinLengths(guest=6, host=12))
    assert store.accounts.pin_lengths(OPERATOR, account_id) == PinLengths(6, 12)
    actions = [e.action for e in store.audit.entries(account_id, limit=3)]
    assert "account.pin_lengths" in actions

    after = store.conferences.create_conference(OPERATOR, host_id, "After")
    assert _pins(store, after) == (6, 12)
    assert store.conferences.find_by_pin(old_pin) == before  # still opens its conference
    assert len(store.conferences.reset_pin(OPERATOR, before)) == 6  # a new PIN: new length
    with pytest.raises(ValueError, match="this account's guest PINs are 6 digits"):
        store.conferences.create_conference(OPERATOR, host_id, "Given", pin="12345678")
    assert store.conferences.pin_lengths_in_use() == frozenset({6, 10, 12})


def test_the_lengths_in_use_and_the_change_counter(store: Store) -> None:
    assert store.conferences.pin_lengths_in_use() == frozenset()
    _, host_id = _host(store)
    written = store.conferences.pins_written
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T")
    assert store.conferences.pin_lengths_in_use() == frozenset({8, 10})
    store.conferences.reset_pin(OPERATOR, conference_id)
    assert store.conferences.pins_written == written + 2


def test_only_the_accounts_own_may_change_its_lengths(store: Store) -> None:
    account_id, _ = _host(store)
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    stranger = Actor("u2", Role.ADMINISTRATOR, other, "127.0.0.1", "test")
    with pytest.raises(AccessDeniedError):
        store.accounts.set_pin_lengths(stranger, account_id, PinLengths(6, 8))
    assert store.accounts.pin_lengths(OPERATOR, account_id) == PinLengths(8, 10)


def test_no_beginning_of_a_new_host_pin_opens_a_conference(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host keying a 10-digit PIN slowly has its first 8 digits tried after the keypad's
    pause: those must never be another conference's guest PIN (nor its own)."""
    _, host_id = _host(store)
    store.conferences.create_conference(OPERATOR, host_id, "Existing", pin="11111111")
    digits: Iterator[str] = iter(
        "22222222"  # the new conference's guest PIN
        "1111111199"  # begins with the existing guest PIN: refused
        "2222222299"  # begins with its own guest PIN: refused
        "3333333399"  # free: taken
    )
    monkeypatch.setattr(conferences_module.secrets, "choice", lambda _: next(digits))
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "New")
    view = store.conferences.get_conference(OPERATOR, conference_id)
    assert (view.pin, view.host_pin) == ("22222222", "3333333399")


def test_migration_0009_records_old_host_pins_as_8_digits_and_keeps_longer_ones(
    store: Store, settings: Settings
) -> None:
    account_id, host_id = _host(store)
    store.accounts.set_pin_lengths(OPERATOR, account_id, PinLengths(8, 9))
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Nine")
    ring = store.ring_source.ring()
    store.close()
    engine = open_engine(settings.resolved_database_url)
    try:
        with pytest.raises(RuntimeError, match="host PINs that are not 8 digits"):
            migrate.downgrade(engine, "0008", key_ring=ring)  # would forget the 9 digits
        with engine.begin() as connection:  # as a conference made before 0009 was
            connection.execute(text("UPDATE conferences SET host_pin_length = 8"))
        migrate.downgrade(engine, "0008", key_ring=ring)
        migrate.upgrade(engine, key_ring=ring)
        with engine.connect() as connection:
            lengths = connection.execute(
                text("SELECT pin_length, host_pin_length FROM conferences WHERE id = :id"),
                {"id": conference_id},
            ).one()
            account = connection.execute(
                text("SELECT guest_pin_length, host_pin_length FROM accounts WHERE id = :id"),
                {"id": account_id},
            ).one()
        assert tuple(lengths) == (8, 8)
        assert tuple(account) == (8, 10)  # back to the defaults: the setting came with 0009
    finally:
        engine.dispose()


def test_no_new_pin_is_the_beginning_of_a_pin_there_is(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other way round: a host PIN keyed slowly has its first 8 digits tried after the
    pause, so no later guest PIN may be those 8 digits."""
    _, host_id = _host(store)
    digits: Iterator[str] = iter(
        "22222222"
        "1111111199"  # the first conference: guest, host
        "11111111"  # the beginning of its host PIN: refused
        "33333333"
        "4444444444"  # the second conference's
    )
    monkeypatch.setattr(conferences_module.secrets, "choice", lambda _: next(digits))
    first = store.conferences.create_conference(OPERATOR, host_id, "First")
    second = store.conferences.create_conference(OPERATOR, host_id, "Second")
    assert store.conferences.get_conference(OPERATOR, second).pin == "33333333"
    with pytest.raises(DuplicateError, match="this PIN is taken"):
        store.conferences.create_conference(OPERATOR, host_id, "Given", pin="11111111")
    with store.sessions() as session:
        rows = session.scalars(select(PinPrefix).where(PinPrefix.conference_id == first)).all()
        assert sorted(r.of_host_pin for r in rows) == [False] * 2 + [True] * 4  # 6, 7; 6 to 9
    digits = iter("55555555")
    assert store.conferences.reset_pin(OPERATOR, first) == "55555555"
    with store.sessions() as session:
        guest_rows = session.scalars(
            select(PinPrefix).where(PinPrefix.conference_id == first, ~PinPrefix.of_host_pin)
        ).all()
        assert len(guest_rows) == 2  # the new PIN's beginnings, in place of the old one's

    # Migration 0011 indexes the beginnings of the PINs that were there before it.
    ring = store.ring_source.ring()
    store.close()
    engine = open_engine(settings.resolved_database_url)
    try:
        migrate.downgrade(engine, "0010", key_ring=ring)
        with pytest.raises(RuntimeError, match="needs the master key"):
            migrate.upgrade(engine)
        migrate.upgrade(engine, key_ring=ring)
    finally:
        engine.dispose()
    reopened = open_store(settings)
    try:
        with reopened.sessions() as session:
            assert len(session.scalars(select(PinPrefix)).all()) == 2 * (2 + 4)
        with pytest.raises(DuplicateError):
            reopened.conferences.create_conference(OPERATOR, host_id, "Again", pin="11111111")
    finally:
        reopened.close()
