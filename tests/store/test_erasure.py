"""An erasure reaches Tell a Friend and public profiles (issue 16) and stays done after a
backup is restored, on SQLite and PostgreSQL.

A restore here is what one does to these tables: the rows the backup held are put back as
they were (the friend invitation with its keyed hash and encrypted address, the user with
their profile address) and the ``erasures`` table goes back to before the erasure, so only
the journal file beside the database still knows of it. ``replay_erasures`` must then find
the rows again through the journal alone. Each test first checks that the restore did bring
the person back (without a replay they would be served).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Table, delete, insert, select, update
from tests.conftest import FakeClock

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.invitations.friend import STANDARD_WORDING
from callroster.invitations.sender import SENDER
from callroster.store import suppressions
from callroster.store.erasure import erase_person, journal_digest, replay_erasures
from callroster.store.friend_invitations import FriendRefusedError
from callroster.store.models import ErasureEntry, FriendInvitation, MarketingSuppression, User
from callroster.store.store import Store

OPERATOR = operator_cli("erasure test")
LEASE = dt.timedelta(minutes=10)
FRIEND = "ines.okafor@example.org"  # the person erased
OTHER = "olu.bello@example.org"  # a friend who is not
FRIEND_NUMBER = "+44 7700 900123"
PROFILE = "https://social.example/@ines"

Rows = dict[str, list[dict[str, Any]]]
TABLES: list[Table] = [
    FriendInvitation.__table__,  # type: ignore[list-item]
    User.__table__,  # type: ignore[list-item]
    MarketingSuppression.__table__,  # type: ignore[list-item]
]


def _host(store: Store) -> Actor:
    account_id = store.accounts.create_account(OPERATOR, "Firm LLP", "london")
    user_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Ada Lovelace")
    return Actor(user_id, Role.HOST, account_id, "192.0.2.7", "test")


def _invite(store: Store, host: Actor, address: str) -> str:
    return store.friend_invitations.queue(
        host,
        address,
        address.lower(),
        STANDARD_WORDING,
        standard_wording=True,
        per_sender_per_day=10,
        per_account_per_day=100,
    ).id


def _send_all(store: Store) -> None:
    for due in store.friend_invitations.take_due(SENDER, lease=LEASE):
        store.friend_invitations.mark_sent(SENDER, due.id)


def _backup(store: Store) -> Rows:
    with store.sessions() as session:
        return {
            table.name: [dict(row._mapping) for row in session.execute(select(table))]
            for table in TABLES
        }


def _restore(store: Store, backup: Rows) -> None:
    """Put the backup's rows back (users in place: other tables refer to them) and take the
    ``erasures`` table back to before the erasure (the journal file keeps it)."""
    with store.sessions.begin() as session:
        session.execute(delete(ErasureEntry))
        for table in TABLES:
            if table.name == "users":
                for row in backup[table.name]:
                    session.execute(update(table).where(table.c.id == row["id"]).values(row))
                continue
            session.execute(delete(table))
            if backup[table.name]:
                session.execute(insert(table), backup[table.name])


def _invitations(store: Store) -> list[FriendInvitation]:
    with store.sessions() as session:
        return list(session.scalars(select(FriendInvitation).order_by(FriendInvitation.created_at)))


def _digest(store: Store, address: str) -> bytes:
    return suppressions.suppression_index(store.keys.blind_index(), address)


def _suppressed(store: Store, address: str) -> bool:
    with store.sessions() as session:
        return suppressions.is_suppressed(session, _digest(store, address))


@pytest.mark.parametrize("sent", [False, True], ids=["pending", "sent"])
def test_replay_erases_a_restored_friend_invitation_again(
    store: Store, clock: FakeClock, sent: bool
) -> None:
    host = _host(store)
    _invite(store, host, FRIEND)
    clock.advance(minutes=1)
    _invite(store, host, OTHER)
    if sent:
        _send_all(store)  # the address is cleared; only its keyed hash names the friend
    with store.sessions.begin() as session:  # the friend opted out of marketing meanwhile
        suppressions.suppress(session, _digest(store, FRIEND), clock())
    backup = _backup(store)
    clock.advance(hours=1)

    report = erase_person(store, OPERATOR, email=FRIEND.upper())
    assert report.counts == {"friend_invitations": 1}
    assert [row.address_index for row in _invitations(store)] == [_digest(store, OTHER)]
    assert _suppressed(store, FRIEND)  # the objection outlives the erasure

    _restore(store, backup)
    restored = _invitations(store)
    assert [row.address_index for row in restored] == [  # control: the restore brought it back
        _digest(store, FRIEND),
        _digest(store, OTHER),
    ]
    assert (restored[0].address_enc is not None) is not sent

    replay = replay_erasures(store, OPERATOR, everything=False)  # as ``serve`` does at start
    assert replay.counts == {"erasures": 2, "friend_invitations": 1}  # entries from the file
    [left] = _invitations(store)
    assert left.address_index == _digest(store, OTHER)  # the other friend's is kept
    assert _suppressed(store, FRIEND)
    with pytest.raises(FriendRefusedError):  # and so they are not invited again
        _invite(store, host, FRIEND)
    assert replay_erasures(store, OPERATOR).counts == {}  # done: a second replay finds nothing


def test_an_invitation_after_the_erasure_is_new_data_a_replay_leaves(
    store: Store, clock: FakeClock
) -> None:
    host = _host(store)
    _invite(store, host, FRIEND)
    erase_person(store, OPERATOR, email=FRIEND)
    assert _invitations(store) == []
    clock.advance(hours=1)
    new = _invite(store, host, FRIEND)  # not suppressed: a host may invite them again
    assert replay_erasures(store, OPERATOR).counts == {}
    assert [row.id for row in _invitations(store)] == [new]


def test_a_user_erased_by_number_loses_friend_invitations_and_profile_after_a_restore(
    store: Store, clock: FakeClock
) -> None:
    host = _host(store)
    _invite(store, host, FRIEND)
    # The friend signs up in another account, and shows a public profile on calls.
    account = store.accounts.create_account(OPERATOR, "Okafor Ltd", "london")
    user_id = store.accounts.create_user(
        OPERATOR, account, Role.HOST, "Ines Okafor", email=FRIEND, phone=FRIEND_NUMBER
    )
    friend = Actor(user_id, Role.HOST, account, "192.0.2.8", "test")
    assert store.public_profiles.save(friend, user_id, PROFILE, consent=True) == "given"
    backup = _backup(store)
    clock.advance(hours=1)

    # Asked by number only: the email (and so the invitation to it) comes from their user row.
    report = erase_person(store, OPERATOR, number="07700 900123")
    assert report.counts == {"users": 1, "friend_invitations": 1}
    assert len(report.journal_ids) == 3  # the number, the email, the email's friend index
    assert _invitations(store) == []

    _restore(store, backup)
    with store.sessions() as session:
        row = session.get(User, user_id)
        assert row is not None and row.profile_url_enc is not None  # control: restored
    assert len(_invitations(store)) == 1

    replay = replay_erasures(store, OPERATOR)
    # The journal's three entries (number, email, the email's friend index) come back from
    # the file, the user is anonymised again and the invitation deleted again.
    assert replay.counts == {"erasures": 3, "users": 1, "friend_invitations": 1}
    assert _invitations(store) == []
    with store.sessions() as session:
        row = session.get(User, user_id)
        assert row is not None
        assert (row.profile_url_enc, row.profile_consent_at) == (None, None)
        assert (row.email_enc, row.email_index, row.phone_index) == (None, None, None)


def test_the_journal_holds_a_keyed_hash_of_the_invitations_index_never_the_index(
    store: Store,
) -> None:
    host = _host(store)
    _invite(store, host, FRIEND)
    row_index = _digest(store, FRIEND)
    erase_person(store, OPERATOR, email=FRIEND)
    assert store.erasure_journal_file is not None
    written = store.erasure_journal_file.read_text()
    with store.sessions() as session:
        kept = {(e.kind, e.digest) for e in session.scalars(select(ErasureEntry))}
    entry = journal_digest(store.keys.blind_index(), "friend", row_index)
    assert ("friend", entry) in kept and f"friend {entry.hex()} " in written  # control
    assert row_index not in {digest for _, digest in kept}
    assert row_index.hex() not in written


def test_a_sender_erased_leaves_no_trace_in_the_invitations_they_sent_after_a_restore(
    store: Store, clock: FakeClock
) -> None:
    host = _host(store)
    account = host.account_id
    assert account is not None
    sender_id = store.accounts.create_user(
        OPERATOR, account, Role.HOST, "Hal Host", email="hal@firm.example"
    )
    sender = Actor(sender_id, Role.HOST, account, "192.0.2.9", "test")
    sent = _invite(store, sender, OTHER)
    _send_all(store)
    pending = _invite(store, sender, FRIEND)
    kept = _invite(store, host, "someone.else@example.org")  # another sender's: untouched
    backup = _backup(store)
    clock.advance(hours=1)

    def check() -> None:
        rows = {row.id: row for row in _invitations(store)}
        assert (rows[sent].sender_id, rows[sent].status) == (None, "sent")
        assert (rows[pending].sender_id, rows[pending].status) == (None, "failed")
        assert (rows[pending].address_enc, rows[pending].message_enc) == (None, None)
        assert rows[pending].next_attempt_at is None
        assert (rows[kept].sender_id, rows[kept].status) == (host.actor_id, "queued")
        assert rows[kept].address_enc is not None
        # The friends stay invited once: the rows (and their keyed hashes) are kept.
        with pytest.raises(FriendRefusedError):
            _invite(store, host, FRIEND)

    report = erase_person(store, OPERATOR, email="hal@firm.example")
    assert report.counts == {"users": 1, "friend_invitations": 2}
    check()

    _restore(store, backup)
    restored = {row.id: row for row in _invitations(store)}
    assert restored[pending].sender_id == sender_id  # control: the restore brought it back
    assert restored[pending].address_enc is not None
    replay = replay_erasures(store, OPERATOR)
    assert replay.counts == {"erasures": 2, "users": 1, "friend_invitations": 2}
    check()
    due = store.friend_invitations.take_due(SENDER, lease=LEASE)
    assert [d.id for d in due] == [kept]  # nothing goes out under the erased sender's name


def test_a_contacts_email_found_by_number_reaches_the_invitation_to_it(store: Store) -> None:
    host = _host(store)
    assert host.account_id is not None
    _invite(store, host, FRIEND)
    _invite(store, host, OTHER)
    store.contacts.add(OPERATOR, host.account_id, "Ines", phone=FRIEND_NUMBER, email=FRIEND)
    report = erase_person(store, OPERATOR, number=FRIEND_NUMBER)
    assert report.counts == {"contacts": 1, "friend_invitations": 1}
    assert [row.address_index for row in _invitations(store)] == [_digest(store, OTHER)]
