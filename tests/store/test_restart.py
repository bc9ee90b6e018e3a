"""What a crash leaves open, closed by the node's next start (store/restart.py), on SQLite
and PostgreSQL: the node's legs and call records end at its last heartbeat with reason
service_restart, its dialogs come back decrypted and go; another node's are left alone; a
dialog is never in the database in clear."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.store.legs import add_leg
from tests.store.raw_bytes import assert_found_when_planted, clear_forms, raw_views

from callroster.accounts.actor import Role, operator_cli
from callroster.config import Settings
from callroster.store.models import CallRecord, Leg, OpenLeg
from callroster.store.store import Store

OPERATOR = operator_cli("test")
CALLER_URI = "sip:+447700900555@198.51.100.23:5062"  # personal: the caller's number, address
NODE, OTHER = "bridge-1", "bridge-2"


def _conference(store: Store) -> tuple[str, str]:
    account_id = store.accounts.create_account(OPERATOR, "Curie & Co", "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Marie Curie")
    return account_id, store.conferences.create_conference(OPERATOR, host_id, "Radium")


def _leg(store: Store, conference_id: str, node: str = NODE) -> str:
    leg = add_leg(store, conference_id)
    store.restart.leg_opened(leg, node)
    return leg


def test_a_crash_is_closed_at_the_last_heartbeat(store: Store, clock: FakeClock) -> None:
    account_id, conference_id = _conference(store)
    early = _leg(store, conference_id)
    clock.advance(seconds=30)
    beat = store.restart.beat(NODE)
    record = store.call_records.start(
        account_id, conference_id, "leg-out", "+447700900461", None, "guest", clock()
    )
    store.restart.leg_opened("leg-out", NODE, account_id)  # a call dialled, no leg row
    store.call_records.answered(record, clock())
    clock.advance(seconds=4)
    late = _leg(store, conference_id)  # joined after the last heartbeat
    gone = _leg(store, conference_id)
    store.conferences.set_leg_status(OPERATOR, gone, "left", left=True)
    store.restart.leg_closed(gone)
    store.restart.dialog_opened(early, NODE, account_id, '{"call_id": "a"}')
    clock.advance(seconds=60)  # the process is dead; this is the next start

    recovery = store.restart.recover(NODE)

    assert (recovery.last_alive, recovery.legs_closed, recovery.records_closed) == (beat, 2, 1)
    assert [(d.leg_id, d.snapshot) for d in recovery.dialogs] == [(early, '{"call_id": "a"}')]
    with store.sessions() as session:
        legs = {leg.id: leg for leg in session.scalars(select(Leg))}
        assert (legs[early].left_at, legs[early].end_reason) == (beat, "service_restart")
        assert legs[late].left_at == legs[late].joined_at  # never before it began
        assert legs[gone].end_reason is None  # ended on the call: untouched
        [row] = session.scalars(select(CallRecord))
        assert (row.outcome, row.ended_at, row.duration_s) == ("service_restart", beat, 0)
        assert session.scalars(select(OpenLeg)).all() == []
    # The next start finds nothing more to close.
    again = store.restart.recover(NODE)
    assert (again.legs_closed, again.records_closed, again.dialogs) == (0, 0, ())


def test_another_nodes_calls_are_left_alone(store: Store, clock: FakeClock) -> None:
    account_id, conference_id = _conference(store)
    ours, theirs = _leg(store, conference_id), _leg(store, conference_id, OTHER)
    store.restart.dialog_opened(theirs, OTHER, account_id, "{}")
    store.restart.beat(NODE)
    recovery = store.restart.recover(NODE)
    assert (recovery.legs_closed, recovery.dialogs) == (1, ())
    with store.sessions() as session:
        assert session.get(Leg, ours).left_at is not None  # type: ignore[union-attr]
        assert session.get(Leg, theirs).left_at is None  # type: ignore[union-attr]
        assert [row.leg_id for row in session.scalars(select(OpenLeg))] == [theirs]
    assert store.restart.recover(OTHER).legs_closed == 1  # ...until their own start


def test_without_a_heartbeat_a_leg_ends_as_it_began(store: Store, clock: FakeClock) -> None:
    _, conference_id = _conference(store)
    leg = _leg(store, conference_id)
    clock.advance(seconds=100)
    recovery = store.restart.recover(NODE)
    assert (recovery.last_alive, recovery.legs_closed) == (None, 1)
    with store.sessions() as session:
        row = session.get(Leg, leg)
        assert row is not None and row.left_at == row.joined_at
    assert clock() - row.joined_at == dt.timedelta(seconds=100)


def test_a_closed_leg_is_gone_with_its_dialog(store: Store) -> None:
    account_id, conference_id = _conference(store)
    leg = _leg(store, conference_id)
    store.restart.dialog_opened(leg, NODE, account_id, "{}")
    store.restart.leg_closed(leg)
    assert store.restart.recover(NODE).dialogs == ()


def test_a_kept_dialog_is_never_in_the_database_in_clear(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    account_id, conference_id = _conference(store)
    leg = _leg(store, conference_id)
    store.restart.dialog_opened(leg, NODE, account_id, f'{{"remote_target": "{CALLER_URI}"}}')
    store.close()
    for view in raw_views(settings, request):
        for form in clear_forms(CALLER_URI):
            assert form not in view
    assert_found_when_planted(settings, request, CALLER_URI)
