"""The invitations' outbox in the store, on SQLite and PostgreSQL: addresses encrypted at
rest, a list queued whole or not at all (the host's daily cap), taken when due and marked
sent, retrying or failed, shown to the account's people only, audit-logged by ids and counts,
deleted after 30 days."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from tests.conftest import FakeClock
from tests.store.raw_bytes import assert_found_when_planted, found, named_views

from callroster.accounts.actor import Actor, Role, operator_cli, system
from callroster.config import Settings
from callroster.store.errors import AccessDeniedError
from callroster.store.invitations import InvitationCapError
from callroster.store.models import AuditEntry, InvitationEmail
from callroster.store.store import Store

OPERATOR = operator_cli("test")
SENDER = system("send invitation emails")
LEASE = dt.timedelta(minutes=10)
ADDRESSES = ["marguerite.oyelaran@example.org", "tobias.vandermeer@example.net"]
START = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)


def _conference(store: Store, name: str = "Hale & Partners LLP") -> tuple[Actor, str]:
    account_id = store.accounts.create_account(OPERATOR, name, "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Weekly review")
    return Actor(host_id, Role.HOST, account_id, "192.0.2.7", "test"), conference_id


def _queue(
    store: Store, host: Actor, conference_id: str, addresses: list[str], cap: int = 200
) -> str:
    return store.invitations.queue(
        host,
        conference_id,
        addresses,
        event_start=START,
        event_minutes=60,
        per_host_per_day=cap,
    )


def test_queued_taken_and_marked_sent_or_retried(store: Store, clock: FakeClock) -> None:
    host, conference_id = _conference(store)
    _queue(store, host, conference_id, ADDRESSES)
    queued = store.invitations.outbox(host, conference_id)
    assert sorted((e.address, e.status, e.attempts) for e in queued) == [
        (ADDRESSES[0], "queued", 0),
        (ADDRESSES[1], "queued", 0),
    ]

    due = store.invitations.take_due(SENDER, lease=LEASE)
    assert sorted(d.address for d in due) == sorted(ADDRESSES)
    assert {(d.event_start, d.event_minutes, d.conference_id) for d in due} == {
        (START, 60, conference_id)
    }
    assert store.invitations.take_due(SENDER, lease=LEASE) == []  # taken: not again at once

    first, second = due
    store.invitations.mark_sent(SENDER, first.id)
    retry_at = clock() + dt.timedelta(minutes=1)
    store.invitations.mark_failed(SENDER, second.id, "the mail server asked (451)", retry_at)
    states = {e.address: e for e in store.invitations.outbox(host, conference_id)}
    assert states[first.address].status == "sent" and states[first.address].sent_at == clock()
    assert states[second.address].status == "retrying"
    assert states[second.address].last_error == "the mail server asked (451)"
    assert states[second.address].next_attempt_at == retry_at

    clock.advance(seconds=59)
    assert store.invitations.take_due(SENDER, lease=LEASE) == []
    clock.advance(seconds=1)
    (again,) = store.invitations.take_due(SENDER, lease=LEASE)
    assert (again.id, again.attempts) == (second.id, 1)
    store.invitations.mark_failed(SENDER, again.id, "gave up", None)
    clock.advance(days=1)
    assert store.invitations.take_due(SENDER, lease=LEASE) == []
    assert {e.status for e in store.invitations.outbox(host, conference_id)} == {"sent", "failed"}


def test_a_sender_that_died_leaves_its_invitations_to_be_taken_again(
    store: Store, clock: FakeClock
) -> None:
    host, conference_id = _conference(store)
    _queue(store, host, conference_id, ADDRESSES[:1])
    assert len(store.invitations.take_due(SENDER, lease=LEASE)) == 1
    clock.advance(minutes=10)
    assert len(store.invitations.take_due(SENDER, lease=LEASE)) == 1


def test_the_daily_cap_is_the_hosts_and_a_list_over_it_queues_nothing(
    store: Store, clock: FakeClock
) -> None:
    host, conference_id = _conference(store)
    other_conference = store.conferences.create_conference(OPERATOR, host.actor_id, "Second")
    _queue(store, host, conference_id, [f"g{n}@example.org" for n in range(6)], cap=10)
    with pytest.raises(InvitationCapError) as refused:
        _queue(store, host, other_conference, [f"h{n}@example.org" for n in range(5)], cap=10)
    assert str(refused.value) == (
        "A host's conferences may send 10 invitations a day; 4 are left for the next 24 "
        "hours and this list has 5. Nothing was sent."
    )
    with store.sessions() as session:
        assert session.scalar(select(func.count(InvitationEmail.id))) == 6
    _queue(store, host, other_conference, [f"h{n}@example.org" for n in range(4)], cap=10)
    clock.advance(hours=24)
    _queue(store, host, other_conference, [f"i{n}@example.org" for n in range(10)], cap=10)


def test_only_the_accounts_people_see_the_outbox(store: Store) -> None:
    host, conference_id = _conference(store)
    _queue(store, host, conference_id, ADDRESSES)
    stranger_account = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    stranger = Actor("u2", Role.ADMINISTRATOR, stranger_account, "127.0.0.1", "test")
    with pytest.raises(AccessDeniedError):
        store.invitations.outbox(stranger, conference_id)
    with pytest.raises(AccessDeniedError):
        _queue(store, stranger, conference_id, ["x@example.org"])


def test_addresses_are_encrypted_at_rest_and_never_in_the_audit_log(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    host, conference_id = _conference(store)
    batch = _queue(store, host, conference_id, ADDRESSES)
    store.invitations.outbox(host, conference_id)
    for due in store.invitations.take_due(SENDER, lease=LEASE):
        store.invitations.mark_sent(SENDER, due.id)
    with store.sessions() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    actions = [(e.action, e.subject) for e in entries if e.action.startswith("invitation.")]
    assert actions[0] == (
        "invitation.queue",
        f"conference:{conference_id} batch:{batch[:8]} to:2",
    )
    assert ("invitation.outbox.read", f"conference:{conference_id} rows:2") in actions
    assert sum(a == "invitation.send" for a, _ in actions) == 2
    for entry in entries:
        text = " ".join([entry.actor, entry.action, entry.subject, entry.reason])
        assert not any(address in text for address in ADDRESSES)
    store.close()
    views = named_views(settings, request)
    for address in ADDRESSES:
        assert found(views, address) == []
    assert_found_when_planted(settings, request, *ADDRESSES)


def test_invitations_are_deleted_30_days_after_they_were_queued(
    store: Store, clock: FakeClock
) -> None:
    host, conference_id = _conference(store)
    _queue(store, host, conference_id, ADDRESSES)
    clock.advance(days=30)
    assert store.invitations.purge() == 0
    clock.advance(seconds=1)
    assert store.invitations.purge() == 2
    assert store.invitations.outbox(host, conference_id) == []


def test_a_shredded_accounts_invitations_are_given_up(store: Store) -> None:
    host, conference_id = _conference(store)
    _queue(store, host, conference_id, ADDRESSES[:1])
    assert host.account_id is not None
    store.accounts.shred_account(OPERATOR, host.account_id)
    assert store.invitations.take_due(SENDER, lease=LEASE) == []
    with store.sessions() as session:
        row = session.scalars(select(InvitationEmail)).one()
    assert (row.status, row.last_error, row.next_attempt_at) == (
        "failed",
        "the account was closed",
        None,
    )


def test_a_deleted_conferences_invitations_go_with_it(store: Store) -> None:
    host, conference_id = _conference(store)
    _queue(store, host, conference_id, ADDRESSES)
    store.conferences.delete_conference(host, conference_id)
    with store.sessions() as session:
        assert session.scalar(select(func.count(InvitationEmail.id))) == 0
    assert store.invitations.take_due(SENDER, lease=LEASE) == []


def test_two_senders_on_one_postgresql_never_take_the_same_invitation(
    store: Store, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: a second sender waits its turn")
    host, conference_id = _conference(store)
    _queue(store, host, conference_id, ADDRESSES)
    with store.sessions.begin() as other_sender:  # another node, mid-way through taking one
        first = other_sender.scalars(
            select(InvitationEmail).order_by(InvitationEmail.id).limit(1).with_for_update()
        ).one()
        taken = store.invitations.take_due(SENDER, lease=LEASE)
        assert [d.id for d in taken] != [] and first.id not in [d.id for d in taken]
    assert len(store.invitations.take_due(SENDER, lease=LEASE)) == 1  # the one it held
