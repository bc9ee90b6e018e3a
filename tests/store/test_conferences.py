"""Conferences and their legs: PINs found by blind index, nothing personal in clear, a
suspended host's conferences closed, every read and change authorised and audit-logged."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.store.legs import add_leg

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.errors import InUseError, NotFoundError
from callroster.store.accounts import PinLengths
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.models import AuditEntry, Conference, Leg, RetiredPin
from callroster.store.store import Store

OPERATOR = operator_cli("test")


def _host(store: Store) -> tuple[str, str]:
    account_id = store.accounts.create_account(OPERATOR, "Hale & Partners LLP", "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
    return account_id, host_id


def _stranger(store: Store) -> Actor:
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    return Actor("u2", Role.ADMINISTRATOR, other, "127.0.0.1", "test")


def test_a_dial_in_number_is_registered_once(store: Store) -> None:
    first = store.conferences.ensure_dial_in_number("+442079460000", "GB", "geographic")
    again = store.conferences.ensure_dial_in_number("+442079460000", "GB", "geographic")
    assert first == again
    assert store.conferences.is_dial_in_number("+442079460000")
    assert not store.conferences.is_dial_in_number("+442079460001")


def test_create_and_read_a_conference_with_nothing_in_clear(store: Store) -> None:
    account_id, host_id = _host(store)
    number_id = store.conferences.ensure_dial_in_number("+442079460000", "GB", "geographic")
    conference_id = store.conferences.create_conference(
        OPERATOR, host_id, "Quarterly review", dial_in_number_ids=(number_id,), pin="48151623"
    )
    view = store.conferences.get_conference(OPERATOR, conference_id)
    assert (view.id, view.account_id, view.host_id, view.title, view.pin) == (
        conference_id,
        account_id,
        host_id,
        "Quarterly review",
        "48151623",
    )
    assert view.dial_in_numbers == ("+442079460000",)
    assert view.host_pin is not None and view.host_pin != view.pin
    assert len(view.host_pin) == 10 and view.host_pin.isdigit()  # an account's default
    with store.sessions() as session:
        row = session.scalars(select(Conference).where(Conference.id == conference_id)).one()
        raw = row.title_enc + row.pin_enc + (row.host_pin_enc or b"")
    assert b"Quarterly" not in raw and b"48151623" not in raw
    assert store.conferences.conferences_of_host(host_id) == [conference_id]
    actions = [e.action for e in store.audit.entries(account_id, limit=5)]
    assert "conference.create" in actions and "conference.read" in actions


def test_a_pin_given_has_the_accounts_guest_length_and_is_unique(store: Store) -> None:
    _, host_id = _host(store)
    for bad in ("1234567", "123456789", "1234567a"):
        with pytest.raises(ValueError, match="this account's guest PINs are 8 digits"):
            store.conferences.create_conference(OPERATOR, host_id, "T", pin=bad)
    store.conferences.create_conference(OPERATOR, host_id, "First", pin="24682468")
    with pytest.raises(DuplicateError):
        store.conferences.create_conference(OPERATOR, host_id, "Second", pin="24682468")


def test_unknown_host_conference_or_leg_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.conferences.create_conference(OPERATOR, "no-such-host", "T")
    with pytest.raises(NotFoundError):
        store.conferences.get_conference(OPERATOR, "no-such-conference")
    with pytest.raises(NotFoundError):
        store.conferences.reset_pin(OPERATOR, "no-such-conference")
    with pytest.raises(NotFoundError):
        store.conferences.set_talk_sensitivity(OPERATOR, "no-such-conference", 0.5)
    with pytest.raises(NotFoundError):
        add_leg(store, "no-such-conference")
    with pytest.raises(NotFoundError):
        store.conferences.set_leg_status(OPERATOR, "no-such-leg", "connected")
    with pytest.raises(NotFoundError):
        store.conferences.set_leg_name(OPERATOR, "no-such-leg", "X", "entered")
    with pytest.raises(NotFoundError):
        store.conferences.legs(OPERATOR, "no-such-conference")


def test_another_account_may_neither_read_nor_change(store: Store) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Private")
    leg_id = add_leg(
        store,
        conference_id,
        name="Ada",
        name_source="directory",
        number="+447700900123",
        withheld=False,
    )
    stranger = _stranger(store)
    with pytest.raises(AccessDeniedError):
        store.conferences.create_conference(stranger, host_id, "Hijack")
    with pytest.raises(AccessDeniedError):
        store.conferences.get_conference(stranger, conference_id)
    with pytest.raises(AccessDeniedError):
        store.conferences.reset_pin(stranger, conference_id)
    with pytest.raises(AccessDeniedError):
        store.conferences.set_talk_sensitivity(stranger, conference_id, 0.1)
    with pytest.raises(AccessDeniedError):
        store.conferences.legs(stranger, conference_id)
    with pytest.raises(AccessDeniedError):
        store.conferences.set_leg_name(stranger, leg_id, "Eve", "entered")
    with pytest.raises(AccessDeniedError):
        store.conferences.set_leg_status(stranger, leg_id, "left", left=True)


def test_a_pin_opens_its_conference_as_guest_or_host(store: Store) -> None:
    account_id, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T", pin="13579135")
    host_pin = store.conferences.get_conference(OPERATOR, conference_id).host_pin
    assert host_pin is not None
    guest = store.conferences.open_with_pin("13579135")
    host = store.conferences.open_with_pin(host_pin)
    assert guest is not None and host is not None
    assert (guest.conference_id, guest.account_id, guest.as_host) == (
        conference_id,
        account_id,
        False,
    )
    assert (host.conference_id, host.as_host) == (conference_id, True)
    assert store.conferences.find_by_pin("13579135") == conference_id
    assert store.conferences.open_with_pin("97531975") is None
    assert store.conferences.open_with_pin("12ab") is None
    assert store.conferences.open_with_pin("1" * 13) is None


def test_a_new_pin_closes_the_old_one(store: Store) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T", pin="11223344")
    pin = store.conferences.reset_pin(OPERATOR, conference_id)
    assert pin != "11223344" and len(pin) == 8
    assert store.conferences.find_by_pin("11223344") is None
    assert store.conferences.find_by_pin(pin) == conference_id
    assert store.conferences.get_conference(OPERATOR, conference_id).pin == pin


def test_the_web_link_and_browser_join(store: Store) -> None:
    account_id, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T")
    link = store.conferences.get_conference(OPERATOR, conference_id).web_link
    assert store.conferences.find_by_web_link(link) == (conference_id, account_id)
    assert store.conferences.find_by_web_link("no-such-link") is None
    match = store.conferences.open_for_web(conference_id, as_host=True)
    assert match is not None
    assert (match.conference_id, match.account_id, match.as_host) == (
        conference_id,
        account_id,
        True,
    )
    assert store.conferences.open_for_web("no-such-conference", as_host=False) is None


def test_a_suspended_hosts_conference_takes_no_calls(store: Store) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T", pin="55555555")
    link = store.conferences.get_conference(OPERATOR, conference_id).web_link
    store.users.set_suspended(OPERATOR, host_id, True)
    assert store.conferences.open_with_pin("55555555") is None
    assert store.conferences.open_for_web(conference_id, as_host=False) is None
    assert store.conferences.find_by_web_link(link) is None
    store.users.set_suspended(OPERATOR, host_id, False)
    assert store.conferences.find_by_pin("55555555") == conference_id


def test_talk_sensitivity_is_kept_and_bounded(store: Store) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T", pin="77777777")
    store.conferences.set_talk_sensitivity(OPERATOR, conference_id, 0.25)
    match = store.conferences.open_with_pin("77777777")
    assert match is not None and match.talk_sensitivity == pytest.approx(0.25)
    for bad in (-0.1, 1.1):
        with pytest.raises(ValueError):
            store.conferences.set_talk_sensitivity(OPERATOR, conference_id, bad)


def test_legs_store_names_and_numbers_encrypted_and_withheld_never(store: Store) -> None:
    account_id, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T")
    known = add_leg(
        store,
        conference_id,
        name="Ada Lovelace",
        name_source="directory",
        number="020 7946 0123",
        withheld=False,
        leg_id="leg-known",
    )
    withheld = add_leg(store, conference_id, number="+447700900123")
    odd = add_leg(store, conference_id, number="not a number", withheld=False)
    assert known == "leg-known"
    with store.sessions() as session:
        rows = {r.id: r for r in session.scalars(select(Leg))}
    assert b"Ada" not in (rows[known].name_enc or b"")
    assert b"79460123" not in (rows[known].number_enc or b"")
    assert rows[withheld].number_enc is None and rows[withheld].number_index is None
    assert rows[odd].number_enc is None
    legs = {leg.id: leg for leg in store.conferences.legs(OPERATOR, conference_id)}
    assert (legs[known].name, legs[known].number, legs[known].status) == (
        "Ada Lovelace",
        "+442079460123",
        "joining",
    )
    assert legs[withheld].number == "withheld"
    assert legs[odd].number is None
    assert "legs.read" in [e.action for e in store.audit.entries(account_id, limit=3)]


def test_a_legs_status_name_and_leaving_time(store: Store, clock: FakeClock) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T")
    leg_id = add_leg(store, conference_id, joined_via="web", withheld=False)
    store.conferences.set_leg_status(OPERATOR, leg_id, "connected")
    store.conferences.set_leg_name(OPERATOR, leg_id, "Grace", "entered")
    clock.advance(minutes=5)
    store.conferences.set_leg_status(OPERATOR, leg_id, "left", left=True)
    [leg] = store.conferences.legs(OPERATOR, conference_id)
    assert (leg.status, leg.name, leg.name_source) == ("left", "Grace", "entered")
    assert leg.left_at is not None
    assert leg.left_at - leg.joined_at == dt.timedelta(minutes=5)


def test_deleting_a_conferences_legs_in_a_callers_transaction(store: Store) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T")
    other_id = store.conferences.create_conference(OPERATOR, host_id, "U")
    for conference in (conference_id, conference_id, other_id):
        add_leg(store, conference, name="N", name_source="entered")
    with store.sessions.begin() as session:
        assert store.conferences.delete_legs_in(session, conference_id) == 2
    assert store.conferences.legs(OPERATOR, conference_id) == []
    assert len(store.conferences.legs(OPERATOR, other_id)) == 1


# -- named conferences: rename, delete, PINs retired for the cooling-off period (issue 13) ----
def test_a_conference_is_renamed_and_a_bad_name_changes_nothing(store: Store) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Board call")
    assert store.conferences.rename_conference(OPERATOR, conference_id, "  Weekly sync ") == (
        "Weekly sync"
    )
    for bad in ("", "   ", "x" * 121):
        with pytest.raises(ValueError, match="a conference's name is 1 to 120 characters"):
            store.conferences.rename_conference(OPERATOR, conference_id, bad)
    assert store.conferences.get_conference(OPERATOR, conference_id).title == "Weekly sync"
    with pytest.raises(ValueError, match="1 to 120"):
        store.conferences.create_conference(OPERATOR, host_id, " ")
    assert store.conferences.conferences_of_host(host_id) == [conference_id]


def test_a_conference_in_progress_is_not_deleted(store: Store) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Board call")
    leg_id = add_leg(store, conference_id)
    store.conferences.set_leg_status(OPERATOR, leg_id, "connected")
    with pytest.raises(InUseError, match="in progress: it can be deleted once everyone has left"):
        store.conferences.delete_conference(OPERATOR, conference_id)
    assert store.conferences.get_conference(OPERATOR, conference_id).title == "Board call"
    store.conferences.set_leg_status(OPERATOR, leg_id, "left", left=True)
    store.conferences.delete_conference(OPERATOR, conference_id)
    with pytest.raises(NotFoundError):
        store.conferences.get_conference(OPERATOR, conference_id)
    with store.sessions() as session:
        assert session.scalar(select(Leg.id).where(Leg.conference_id == conference_id)) is None
        actions = list(session.scalars(select(AuditEntry.action)))
    assert "conference.delete" in actions


def test_a_deleted_conferences_pins_open_nothing_and_are_not_given_again_for_180_days(
    store: Store, clock: FakeClock
) -> None:
    _, host_id = _host(store)
    conference_id = store.conferences.create_conference(
        OPERATOR, host_id, "Board call", pin="48151623"
    )
    host_pin = store.conferences.get_conference(OPERATOR, conference_id).host_pin
    assert host_pin is not None
    store.conferences.delete_conference(OPERATOR, conference_id)
    assert store.conferences.open_with_pin("48151623") is None
    assert store.conferences.open_with_pin(host_pin) is None
    clock.now += dt.timedelta(days=179)
    with pytest.raises(DuplicateError, match="not given again for 180 days"):
        store.conferences.create_conference(OPERATOR, host_id, "Reuse", pin="48151623")
    assert store.conferences.conferences_of_host(host_id) == []  # nothing half-created
    clock.now += dt.timedelta(days=1, seconds=1)
    again = store.conferences.create_conference(OPERATOR, host_id, "Reuse", pin="48151623")
    assert store.conferences.open_with_pin("48151623") is not None
    assert store.conferences.get_conference(OPERATOR, again).pin == "48151623"


def test_a_reset_pin_is_retired_and_never_drawn_within_the_period(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generator itself skips a retired PIN: the draw is forced to offer it first."""
    account_id, host_id = _host(store)
    store.accounts.set_pin_lengths(OPERATOR, account_id, PinLengths(6, 8))
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Board call")
    old = store.conferences.get_conference(OPERATOR, conference_id).pin
    store.conferences.reset_pin(OPERATOR, conference_id)
    clock.now += dt.timedelta(days=30)
    other = store.conferences.create_conference(OPERATOR, host_id, "Other")
    offered = iter(old + "135792")  # the old PIN first, then a fresh one
    monkeypatch.setattr("callroster.store.conferences.secrets.choice", lambda digits: next(offered))
    fresh = store.conferences.reset_pin(OPERATOR, other)
    assert fresh == "135792" != old
    with store.sessions() as session:
        kept = list(session.scalars(select(RetiredPin.pin_index)))
    assert len(kept) == 2 and all(len(k) == 32 for k in kept)  # indexes only, no digits
