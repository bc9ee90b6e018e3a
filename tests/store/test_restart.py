"""What a crash leaves open, closed by the next start (store/restart.py), on SQLite and
PostgreSQL: legs and call records end at the last heartbeat with reason service_restart,
the dialogs come back decrypted and go; a dialog is never in the database in clear."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.store.legs import add_leg
from tests.store.raw_bytes import assert_found_when_planted, clear_forms, raw_views

from callroster.accounts.actor import Role, operator_cli
from callroster.config import Settings
from callroster.store.models import CallRecord, Leg, OpenDialog
from callroster.store.store import Store

OPERATOR = operator_cli("test")
CALLER_URI = "sip:+447700900555@198.51.100.23:5062"  # personal: the caller's number, address


def _conference(store: Store) -> tuple[str, str]:
    account_id = store.accounts.create_account(OPERATOR, "Curie & Co", "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Marie Curie")
    return account_id, store.conferences.create_conference(OPERATOR, host_id, "Radium")


def test_a_crash_is_closed_at_the_last_heartbeat(store: Store, clock: FakeClock) -> None:
    account_id, conference_id = _conference(store)
    early = add_leg(store, conference_id)
    clock.advance(seconds=30)
    beat = store.restart.beat()
    record = store.call_records.start(
        account_id, conference_id, "leg-out", "+447700900461", None, "guest", clock()
    )
    store.call_records.answered(record, clock())
    clock.advance(seconds=4)
    late = add_leg(store, conference_id)  # joined after the last heartbeat
    gone = add_leg(store, conference_id)
    store.conferences.set_leg_status(OPERATOR, gone, "left", left=True)
    store.restart.open_dialog(early, account_id, '{"call_id": "a"}')
    clock.advance(seconds=60)  # the process is dead; this is the next start

    recovery = store.restart.recover()

    assert (recovery.last_alive, recovery.legs_closed, recovery.records_closed) == (beat, 2, 1)
    assert [(d.leg_id, d.snapshot) for d in recovery.dialogs] == [(early, '{"call_id": "a"}')]
    with store.sessions() as session:
        legs = {leg.id: leg for leg in session.scalars(select(Leg))}
        assert (legs[early].left_at, legs[early].end_reason) == (beat, "service_restart")
        assert legs[late].left_at == legs[late].joined_at  # never before it began
        assert legs[gone].end_reason is None  # ended on the call: untouched
        [row] = session.scalars(select(CallRecord))
        assert (row.outcome, row.duration_s) == ("service_restart", 0)
        assert session.scalars(select(OpenDialog)).all() == []
    # The next start finds nothing more to close.
    again = store.restart.recover()
    assert (again.legs_closed, again.records_closed, again.dialogs) == (0, 0, ())


def test_without_a_heartbeat_a_leg_ends_as_it_began(store: Store, clock: FakeClock) -> None:
    _, conference_id = _conference(store)
    leg = add_leg(store, conference_id)
    clock.advance(seconds=100)
    recovery = store.restart.recover()
    assert (recovery.last_alive, recovery.legs_closed) == (None, 1)
    with store.sessions() as session:
        row = session.get(Leg, leg)
        assert row is not None and row.left_at == row.joined_at
    assert clock() - row.joined_at == dt.timedelta(seconds=100)


def test_a_closed_dialog_is_gone(store: Store) -> None:
    account_id, conference_id = _conference(store)
    leg = add_leg(store, conference_id)
    store.restart.open_dialog(leg, account_id, "{}")
    store.restart.close_dialog(leg)
    assert store.restart.recover().dialogs == ()


def test_a_kept_dialog_is_never_in_the_database_in_clear(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    account_id, conference_id = _conference(store)
    leg = add_leg(store, conference_id)
    store.restart.open_dialog(leg, account_id, f'{{"remote_target": "{CALLER_URI}"}}')
    store.close()
    for view in raw_views(settings, request):
        for form in clear_forms(CALLER_URI):
            assert form not in view
    assert_found_when_planted(settings, request, CALLER_URI)
