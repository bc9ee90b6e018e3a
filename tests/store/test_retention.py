"""Retention in the store, on SQLite and PostgreSQL, with a moved clock: every read path hides
what is past its time before any purge, the purge deletes exactly that (and no more), legal
holds keep what they cover, a country's override applies to its accounts only, a dry run
changes nothing, and a purge killed in the middle of a batch resumes to the right counts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, insert, select
from tests.conftest import FakeClock

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.privacy.retention_classes import RetentionClass as C
from callroster.store.models import AccountKey, CallRecord, Contact, Leg
from callroster.store.onboarding import AccountAction
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("retention test")
SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class World:
    account_id: str
    host_id: str
    other_host_id: str
    conference_id: str
    other_conference_id: str
    admin: Actor


def _world(store: Store, region: str = "london", name: str = "Curie Labs") -> World:
    account_id = store.accounts.create_account(OPERATOR, name, region)
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Marie Curie")
    other_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Pierre Curie")
    admin_id = store.accounts.create_user(OPERATOR, account_id, Role.ADMINISTRATOR, "Irene C")
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Radium")
    other_conference_id = store.conferences.create_conference(OPERATOR, other_id, "Polonium")
    admin = Actor(admin_id, Role.ADMINISTRATOR, account_id, "192.0.2.1", "history")
    return World(account_id, host_id, other_id, conference_id, other_conference_id, admin)


def _call(store: Store, world: World, ended: dt.datetime, conference_id: str | None = None) -> str:
    """A dialled call on ``conference_id`` (default the first host's), asked for by that
    conference's host."""
    other = conference_id == world.other_conference_id
    record = store.call_records.start(
        world.account_id,
        conference_id or world.conference_id,
        str(uuid.uuid4()),
        "+447700900123",
        None,
        world.other_host_id if other else world.host_id,
        ended - dt.timedelta(minutes=5),
    )
    store.call_records.finish(record, "no_answer", 480, ended)
    return record


def _leg(store: Store, clock: FakeClock, conference_id: str, joined: dt.datetime) -> str:
    saved = clock.now
    clock.now = joined
    try:
        return store.conferences.add_leg(
            OPERATOR,
            conference_id,
            joined_via="dial_in",
            name="Ada Guest",
            name_source="typed",
            number="+447700900777",
            withheld=False,
        )
    finally:
        clock.now = saved


def _records(store: Store, world: World) -> set[str]:
    return {r.id for r in store.call_records.for_account(world.admin, world.account_id)}


def _legs(store: Store, conference_id: str) -> set[str]:
    return {leg.id for leg in store.conferences.legs(OPERATOR, conference_id)}


def _history_legs(store: Store, host_id: str, conference_id: str) -> int:
    [row] = [c for c in store.users.conference_history(OPERATOR, host_id) if c.id == conference_id]
    return row.legs


def _count(store: Store, model: type[CallRecord] | type[Leg] | type[Contact]) -> int:
    with store.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_call_records_are_hidden_at_the_monthly_cycle_then_purged(
    store: Store, clock: FakeClock
) -> None:
    world = _world(store)
    cycle = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # the clock is in November 2026
    due = _call(store, world, dt.datetime(2026, 5, 1, tzinfo=dt.UTC))  # 6 months at the cycle
    late = _call(store, world, dt.datetime(2026, 5, 1, tzinfo=dt.UTC) + SECOND)
    fresh = _call(store, world, clock.now - dt.timedelta(days=1))

    clock.now = cycle - SECOND  # October's cycle: none is six months old at its start
    assert _records(store, world) == {due, late, fresh}
    assert store.purge().run().total(C.CALL_RECORDS) == 0

    clock.now = cycle  # November's: the first is hidden at once, before any purge
    assert _records(store, world) == {late, fresh}
    assert _count(store, CallRecord) == 3
    report = store.purge().run()
    assert report.counts["call_records"] == {"call_records": 1}
    assert _count(store, CallRecord) == 2

    clock.now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) - SECOND  # still November's cycle
    assert _records(store, world) == {late, fresh}
    clock.now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert _records(store, world) == {fresh}
    assert store.purge().run().total(C.CALL_RECORDS) == 1
    assert store.purge().run().total(C.CALL_RECORDS) == 0  # idempotent


def test_legs_are_hidden_twelve_months_after_the_call_on_every_read_path(
    store: Store, clock: FakeClock
) -> None:
    world = _world(store)
    joined = clock.now - dt.timedelta(days=30)
    old = _leg(store, clock, world.conference_id, joined)
    recent = _leg(store, clock, world.conference_id, clock.now - SECOND)
    limit = joined.replace(year=joined.year + 1)

    clock.now = limit - SECOND
    assert _legs(store, world.conference_id) == {old, recent}
    assert _history_legs(store, world.host_id, world.conference_id) == 2
    assert store.purge().run(dry_run=True).total(C.SERVICE_DATA) == 0

    clock.now = limit  # twelve months to the second: hidden everywhere, not yet purged
    assert _legs(store, world.conference_id) == {recent}
    assert _history_legs(store, world.host_id, world.conference_id) == 1
    assert _count(store, Leg) == 2
    assert store.purge().run().counts["service_data"] == {"legs": 1}
    assert _count(store, Leg) == 1
    assert _legs(store, world.conference_id) == {recent}


def test_account_data_goes_twelve_months_after_termination(store: Store, clock: FakeClock) -> None:
    world = _world(store)
    store.contacts.add(OPERATOR, world.account_id, "Lise Meitner", phone="+447700900555")
    _call(store, world, clock.now - dt.timedelta(days=2))
    _leg(store, clock, world.conference_id, clock.now - dt.timedelta(days=2))
    store.onboarding.change_status(OPERATOR, world.account_id, AccountAction.TERMINATE)
    terminated = clock.now

    clock.now = terminated.replace(year=terminated.year + 1) - SECOND
    report = store.purge().run()  # the call and the leg went by their own classes already
    assert report.total(C.ACCOUNT_DATA) == 0 and report.keys_destroyed == 0
    assert _count(store, Contact) == 1

    clock.now = terminated.replace(year=terminated.year + 1)
    dry = store.purge().run(dry_run=True)
    assert dry.counts["account_data"]["contacts"] == 1 and dry.keys_destroyed == 1
    assert _count(store, Contact) == 1  # the dry run changed nothing
    report = store.purge().run()
    assert report.counts["account_data"]["contacts"] == 1
    assert report.keys_destroyed == 1
    assert (_count(store, Contact), _count(store, CallRecord), _count(store, Leg)) == (0, 0, 0)
    with store.sessions() as session:
        key = session.get(AccountKey, world.account_id)
        assert key is not None and key.wrapped_key is None
    again = store.purge().run()
    assert again.keys_destroyed == 0 and again.total(C.ACCOUNT_DATA) == 0


@pytest.mark.parametrize("kind", ["conference", "host", "account"])
def test_a_legal_hold_keeps_what_it_covers_visible_and_unpurged(
    store: Store, clock: FakeClock, kind: str
) -> None:
    world = _world(store)
    long_ago = clock.now - dt.timedelta(days=800)
    held_record = _call(store, world, long_ago)
    other_record = _call(store, world, long_ago, world.other_conference_id)
    held_leg = _leg(store, clock, world.conference_id, long_ago)
    other_leg = _leg(store, clock, world.other_conference_id, long_ago)
    target = {"conference": world.conference_id, "host": world.host_id}.get(kind, world.account_id)
    hold = store.legal_holds.place(OPERATOR, kind, target, "case 2026-114")

    report = store.purge().run()
    assert _records(store, world) >= {held_record}
    assert _legs(store, world.conference_id) == {held_leg}
    if kind == "account":  # the whole account is held: nothing of it goes
        assert _records(store, world) == {held_record, other_record}
        assert _legs(store, world.other_conference_id) == {other_leg}
        assert report.total(C.CALL_RECORDS) + report.total(C.SERVICE_DATA) == 0
    else:  # what the hold does not cover goes as ever
        assert _records(store, world) == {held_record}
        assert _legs(store, world.other_conference_id) == set()
        assert report.total(C.CALL_RECORDS) == 1 and report.total(C.SERVICE_DATA) == 1

    assert store.legal_holds.release(OPERATOR, hold.id)
    assert _records(store, world) == set()  # hidden again at once
    assert _legs(store, world.conference_id) == set()
    store.purge().run()
    assert (_count(store, CallRecord), _count(store, Leg)) == (0, 0)
    actions = [e.action for e in store.audit.entries(world.account_id)]
    assert "legal_hold.place" in actions and "legal_hold.release" in actions


def test_a_hold_is_refused_to_anyone_but_an_operator_and_on_nothing(store: Store) -> None:
    world = _world(store)
    from callroster.errors import NotFoundError
    from callroster.store.errors import AccessDeniedError

    with pytest.raises(AccessDeniedError):
        store.legal_holds.place(world.admin, "account", world.account_id, "mine")
    with pytest.raises(NotFoundError):
        store.legal_holds.place(OPERATOR, "conference", str(uuid.uuid4()), "case")
    with pytest.raises(ValueError, match="one of"):
        store.legal_holds.place(OPERATOR, "leg", world.account_id, "case")


@pytest.fixture
def overridden(settings: Settings, clock: FakeClock) -> Iterator[Store]:
    changed = settings.model_copy(
        update={"retention_overrides": {"US": {"call_records": "1 months", "service_data": 30}}}
    )
    opened = open_store(changed, clock=clock)
    yield opened
    opened.close()


def test_a_country_override_applies_to_accounts_in_that_country_only(
    overridden: Store, clock: FakeClock
) -> None:
    store = overridden
    london = _world(store, "london", "London Ltd")
    chicago = _world(store, "chicago", "Chicago Inc")
    ended = dt.datetime(2026, 9, 30, 12, tzinfo=dt.UTC)  # before October's cycle start
    kept_gb, gone_us = _call(store, london, ended), _call(store, chicago, ended)
    leg_gb = _leg(store, clock, london.conference_id, clock.now - dt.timedelta(days=31))
    _leg(store, clock, chicago.conference_id, clock.now - dt.timedelta(days=31))

    assert _records(store, london) == {kept_gb} and _records(store, chicago) == set()
    assert _legs(store, london.conference_id) == {leg_gb}
    assert _legs(store, chicago.conference_id) == set()
    report = store.purge().run()
    assert report.total(C.CALL_RECORDS) == 1 and report.total(C.SERVICE_DATA) == 1
    with store.sessions() as session:
        left = set(session.scalars(select(CallRecord.id)))
    assert left == {kept_gb} and gone_us not in left


def _plant(store: Store, world: World, ended: dt.datetime, n: int) -> None:
    """``n`` call records ended at ``ended``, written directly (fast) with dummy ciphertext."""
    rows = [
        {
            "id": str(uuid.uuid4()),
            "account_id": world.account_id,
            "conference_id": world.conference_id,
            "leg_id": "leg",
            "direction": "outbound",
            "number_enc": b"x",
            "number_index": uuid.uuid4().bytes * 2,
            "requested_by": world.host_id,
            "started_at": ended - dt.timedelta(minutes=1),
            "ended_at": ended,
            "outcome": "busy",
            "duration_s": 0,
        }
        for _ in range(n)
    ]
    with store.sessions.begin() as session:
        session.execute(insert(CallRecord), rows)


class Killed(Exception):
    pass


def test_a_purge_killed_mid_batch_resumes_to_the_right_counts(
    store: Store, clock: FakeClock
) -> None:
    world = _world(store)
    _plant(store, world, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), 1200)  # expired
    _plant(store, world, clock.now - dt.timedelta(days=3), 50)  # kept

    def kill_in_third_batch(batch: int) -> None:
        if batch == 3:
            raise Killed  # after the third batch's delete, before its commit

    purge = store.purge(batch_rows=250)
    with pytest.raises(Killed):
        purge.run(fault=kill_in_third_batch)
    assert _count(store, CallRecord) == 1250 - 2 * 250  # the third batch rolled back whole

    resumed = purge.run()
    assert resumed.counts["call_records"] == {"call_records": 1200 - 500}
    assert resumed.batches == 3  # 250 + 250 + 200
    assert _count(store, CallRecord) == 50
    assert purge.run().total(C.CALL_RECORDS) == 0
    purged = [e for e in store.audit.entries(world.account_id) if e.action == "retention.purge"]
    assert len(purged) == 5  # one per committed batch, none for the rolled-back one
    assert store.audit.verify() is None


def test_a_dry_run_counts_and_changes_nothing(store: Store, clock: FakeClock) -> None:
    world = _world(store)
    _plant(store, world, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), 700)
    _leg(store, clock, world.conference_id, clock.now - dt.timedelta(days=400))
    head = store.audit.head()

    dry = store.purge(batch_rows=100).run(dry_run=True)
    assert dry.counts["call_records"] == {"call_records": 700}
    assert dry.counts["service_data"] == {"legs": 1}
    assert (_count(store, CallRecord), _count(store, Leg)) == (700, 1)
    assert store.audit.head() == head  # not even an audit entry

    real = store.purge(batch_rows=100).run()
    assert real.counts == dry.counts and real.batches == 8
    assert (_count(store, CallRecord), _count(store, Leg)) == (0, 0)


def test_the_report_holds_counts_not_personal_data(store: Store, clock: FakeClock) -> None:
    world = _world(store)
    _call(store, world, dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    text = store.purge().run().to_json()
    assert '"call_records":{"call_records":1}' in text  # positive control: counts are there
    for personal in ("+447700900123", "7700900123", "Curie", "Marie"):
        assert personal not in text
