"""Call detail records: one per outbound attempt, the number encrypted under the account's key
with its blind index, read back only by those allowed to see the account's call history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from tests.conftest import FakeClock
from tests.store.raw_bytes import assert_found_when_planted, clear_forms, raw_views

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.errors import DataKeyDestroyedError, NotFoundError
from callroster.privacy.keys import DecryptionError
from callroster.store.errors import AccessDeniedError
from callroster.store.models import CallRecord
from callroster.store.store import Store

OPERATOR = operator_cli("test")
NUMBER = "+447700900461"


@dataclass(frozen=True)
class Call:
    account_id: str
    host_id: str
    conference_id: str
    admin: Actor


def _call(store: Store) -> Call:
    account_id = store.accounts.create_account(OPERATOR, "Meitner & Hahn", "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Lise Meitner")
    admin_id = store.accounts.create_user(OPERATOR, account_id, Role.ADMINISTRATOR, "Otto Hahn")
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Fission")
    admin = Actor(admin_id, Role.ADMINISTRATOR, account_id, "192.0.2.10", "call history")
    return Call(account_id, host_id, conference_id, admin)


def test_an_answered_call_from_start_to_finish(store: Store, clock: FakeClock) -> None:
    call = _call(store)
    trunk = store.trunks.add(OPERATOR, "carrier", "sip:carrier.example")
    started = clock.now
    record_id = store.call_records.start(
        call.account_id,
        call.conference_id,
        "leg-1",
        "07700 900461",
        trunk.id,
        call.host_id,
        started,
    )
    in_progress = store.call_records.for_account(call.admin, call.account_id)[0]
    assert (in_progress.outcome, in_progress.ended_at, in_progress.duration_s) == (None, None, None)

    store.call_records.answered(record_id, started + dt.timedelta(seconds=5))
    store.call_records.finish(
        record_id, "answered", 200, started + dt.timedelta(seconds=65, milliseconds=200)
    )
    [record] = store.call_records.for_account(call.admin, call.account_id)
    assert record.id == record_id
    assert (record.account_id, record.conference_id, record.leg_id, record.direction) == (
        call.account_id,
        call.conference_id,
        "leg-1",
        "outbound",
    )
    assert (record.number, record.trunk_id, record.requested_by) == (
        NUMBER,
        trunk.id,
        call.host_id,
    )
    assert (record.started_at, record.answered_at, record.ended_at) == (
        started,
        started + dt.timedelta(seconds=5),
        started + dt.timedelta(seconds=65, milliseconds=200),
    )
    # 60.2 s of talk is billed as 61 s.
    assert (record.outcome, record.sip_status, record.duration_s) == ("answered", 200, 61)


def test_failed_attempts_are_recorded_too(store: Store, clock: FakeClock) -> None:
    call = _call(store)
    outcomes = [("busy", 486), ("no_answer", 408), ("declined", 603), ("failed", None)]
    for number, (outcome, status) in enumerate(outcomes):
        record_id = store.call_records.start(
            call.account_id, call.conference_id, f"leg-{number}", NUMBER, None, "guest", clock.now
        )
        store.call_records.finish(record_id, outcome, status, clock.now + dt.timedelta(seconds=3))
        clock.advance(minutes=1)
    # Click-to-call has no conference; the host cancelled before the callee answered.
    record_id = store.call_records.start(
        call.account_id, None, "leg-c2c", NUMBER, None, call.host_id, clock.now
    )
    store.call_records.finish(record_id, "cancelled", 487, clock.now)
    records = store.call_records.for_account(call.admin, call.account_id)
    assert [(r.outcome, r.sip_status, r.duration_s, r.answered_at) for r in records] == [
        ("busy", 486, 0, None),
        ("no_answer", 408, 0, None),
        ("declined", 603, 0, None),
        ("failed", None, 0, None),
        ("cancelled", 487, 0, None),
    ]
    assert [r.requested_by for r in records] == ["guest"] * 4 + [call.host_id]
    assert records[-1].conference_id is None


def test_impossible_records_are_refused(store: Store, clock: FakeClock) -> None:
    call = _call(store)
    now = clock.now
    later = now + dt.timedelta(seconds=30)

    def start() -> str:
        return store.call_records.start(
            call.account_id, call.conference_id, "leg", NUMBER, None, "guest", now
        )

    with pytest.raises(ValueError, match="not a phone number"):
        store.call_records.start(call.account_id, None, "leg", "banana", None, "guest", now)
    record_id = start()
    with pytest.raises(ValueError, match="never answered cannot finish as answered"):
        store.call_records.finish(record_id, "answered", 200, later)
    with pytest.raises(ValueError, match="'hung_up' is not one of answered, busy"):
        store.call_records.finish(record_id, "hung_up", 200, later)
    with pytest.raises(ValueError, match="SIP status 42"):
        store.call_records.finish(record_id, "failed", 42, later)
    with pytest.raises(ValueError, match="cannot be answered before it started"):
        store.call_records.answered(record_id, now - dt.timedelta(seconds=1))
    store.call_records.answered(record_id, now + dt.timedelta(seconds=10))
    with pytest.raises(ValueError, match="already answered"):
        store.call_records.answered(record_id, later)
    with pytest.raises(ValueError, match="cannot end before it started or was answered"):
        store.call_records.finish(record_id, "answered", 200, now + dt.timedelta(seconds=5))
    store.call_records.finish(record_id, "answered", 200, later)
    with pytest.raises(ValueError, match="already finished"):
        store.call_records.finish(record_id, "failed", 500, later)
    with pytest.raises(ValueError, match="already finished"):
        store.call_records.answered(record_id, later)
    with pytest.raises(NotFoundError):
        store.call_records.answered("no-such-record", later)
    assert store.call_records.for_account(OPERATOR, call.account_id)[0].duration_s == 20


def test_the_number_is_encrypted_under_the_account_key_with_a_blind_index(
    store: Store, settings: Settings, request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    call = _call(store)
    record_id = store.call_records.start(
        call.account_id, call.conference_id, "leg", NUMBER, None, "guest", clock.now
    )
    with store.sessions() as session:
        row = session.get_one(CallRecord, record_id)
    assert row.number_index == store.keys.blind_index().of("phone", NUMBER)
    # Under this account's key, for this column: another account's key does not open it.
    assert store.keys.cipher(call.account_id).decrypt("call_records.number", row.number_enc) == (
        NUMBER
    )
    other = store.accounts.create_account(OPERATOR, "Elsewhere Ltd", "london")
    with pytest.raises(DecryptionError):
        store.keys.cipher(other).decrypt("call_records.number", row.number_enc)
    store.close()
    for raw in raw_views(settings, request):
        for form in clear_forms(NUMBER):
            assert form not in raw

    store.accounts.shred_account(OPERATOR, call.account_id)
    with pytest.raises(DataKeyDestroyedError):
        store.call_records.for_account(OPERATOR, call.account_id)
    store.close()
    # The positive control: the same search finds the number once it is there.
    assert_found_when_planted(settings, request, NUMBER)


def test_only_the_accounts_administrators_and_operators_read_its_history(
    store: Store, clock: FakeClock
) -> None:
    call = _call(store)
    other = _call(store)
    store.call_records.start(
        call.account_id, call.conference_id, "leg", NUMBER, None, call.host_id, clock.now
    )
    refused = [
        other.admin,  # another account's administrator
        Actor(call.host_id, Role.HOST, call.account_id, "192.0.2.11", "history"),
        Actor("d1", Role.DELEGATE, call.account_id, "192.0.2.12", "history"),
        Actor("link:abc", Role.GUEST, call.account_id, "192.0.2.13", "history"),
    ]
    for actor in refused:
        with pytest.raises(AccessDeniedError):
            store.call_records.for_account(actor, call.account_id)
    assert store.call_records.for_account(other.admin, other.account_id) == []
    assert [r.number for r in store.call_records.for_account(OPERATOR, call.account_id)] == [NUMBER]
    # Writing for an account needs access to it too.
    with pytest.raises(AccessDeniedError):
        store.call_records.start(
            call.account_id, None, "leg", NUMBER, None, "guest", clock.now, actor=other.admin
        )


def test_writes_and_reads_are_audited_by_id_never_by_number(store: Store, clock: FakeClock) -> None:
    call = _call(store)
    record_id = store.call_records.start(
        call.account_id, call.conference_id, "leg", NUMBER, None, "guest", clock.now
    )
    store.call_records.answered(record_id, clock.now)
    store.call_records.finish(record_id, "answered", 200, clock.now + dt.timedelta(seconds=9))
    store.call_records.for_account(call.admin, call.account_id)
    entries = list(reversed(store.audit.entries(call.account_id, limit=4)))
    assert [(e.actor, e.action, e.subject) for e in entries] == [
        ("system:callroster", "call_record.start", f"call_record:{record_id}"),
        ("system:callroster", "call_record.answered", f"call_record:{record_id}"),
        ("system:callroster", "call_record.finish", f"call_record:{record_id}"),
        (f"administrator:{call.admin.actor_id}", "call_records.read", f"account:{call.account_id}"),
    ]
    assert (entries[-1].source, entries[-1].reason) == ("192.0.2.10", "call history")
    for entry in entries:
        assert NUMBER[1:] not in " ".join((entry.subject, entry.reason))
    assert store.audit.verify() is None


def test_removing_a_trunk_keeps_the_calls_that_went_through_it(
    store: Store, clock: FakeClock
) -> None:
    call = _call(store)
    trunk = store.trunks.add(OPERATOR, "carrier", "sip:carrier.example")
    record_id = store.call_records.start(
        call.account_id, call.conference_id, "leg", NUMBER, trunk.id, "guest", clock.now
    )
    store.call_records.finish(record_id, "busy", 486, clock.now)
    store.trunks.remove(OPERATOR, "carrier")
    [record] = store.call_records.for_account(OPERATOR, call.account_id)
    assert (record.id, record.trunk_id, record.outcome, record.number) == (
        record_id,
        None,
        "busy",
        NUMBER,
    )
