"""Tell a Friend in the store, on SQLite and PostgreSQL: what the sender task takes and what
each outcome leaves (the address, the message and the link's token only until the email is
sent or given up on), who sent it forgotten after 30 days, a closed account's invitations
given up, and one invitation per address whoever sends it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tests.conftest import FakeClock

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.invitations.friend import STANDARD_WORDING
from callroster.invitations.sender import SENDER
from callroster.store.friend_invitations import FriendLimitError, FriendRefusedError
from callroster.store.models import FriendInvitation
from callroster.store.store import Store

OPERATOR = operator_cli("test")
LEASE = dt.timedelta(minutes=10)
FRIEND = "ines.okafor@example.org"


def _host(store: Store, account: str = "Firm LLP") -> Actor:
    account_id = store.accounts.create_account(OPERATOR, account, "london")
    user_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Ada Lovelace")
    return Actor(user_id, Role.HOST, account_id, "192.0.2.7", "test")


def _queue(store: Store, host: Actor, address: str = FRIEND, **limits: int) -> str:
    return store.friend_invitations.queue(
        host,
        address,
        address.lower(),
        STANDARD_WORDING,
        standard_wording=True,
        per_sender_per_day=limits.get("sender", 10),
        per_account_per_day=limits.get("account", 100),
    ).token


def _row(store: Store) -> FriendInvitation:
    with store.sessions() as session:
        return session.scalars(select(FriendInvitation)).one()


def test_taken_retried_then_given_up_clears_the_address(store: Store, clock: FakeClock) -> None:
    host = _host(store)
    token = _queue(store, host)
    [due] = store.friend_invitations.take_due(SENDER, lease=LEASE)
    assert (due.address, due.sender_name, due.token, due.message) == (
        FRIEND,
        "Ada Lovelace",
        token,
        STANDARD_WORDING,
    )
    assert FRIEND not in repr(due) and token not in repr(due)
    assert store.friend_invitations.take_due(SENDER, lease=LEASE) == []  # leased
    retry = clock() + dt.timedelta(minutes=1)
    store.friend_invitations.mark_failed(SENDER, due.id, "try again later (451)", retry)
    row = _row(store)
    assert row.status == "retrying" and row.address_enc is not None
    clock.advance(minutes=2)
    [again] = store.friend_invitations.take_due(SENDER, lease=LEASE)
    assert again.token == token  # the same link in every attempt
    store.friend_invitations.mark_failed(SENDER, again.id, "refused (550)", None)
    row = _row(store)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, None)
    assert (row.address_enc, row.message_enc, row.token_enc) == (None, None, None)
    with pytest.raises(FriendRefusedError):  # given up on, still invited once
        _queue(store, host)


def test_one_invitation_per_address_across_accounts_and_limits(store: Store) -> None:
    first, second = _host(store), _host(store, "Other Ltd")
    _queue(store, first)
    with pytest.raises(FriendRefusedError) as refused:
        _queue(store, second, FRIEND.upper())
    assert str(refused.value) == "We can't send an invitation to this address."
    _queue(store, first, "a@example.org", sender=2)
    with pytest.raises(FriendLimitError, match="You may invite 2 friends a day"):
        _queue(store, first, "b@example.org", sender=2)
    with pytest.raises(FriendLimitError, match="Your account may invite 2 friends a day"):
        _queue(store, first, "b@example.org", account=2)
    guest = Actor("guest", Role.GUEST, first.account_id, "192.0.2.7", "test")
    with pytest.raises(PermissionError):
        _queue(store, guest, "c@example.org")


def test_who_sent_it_is_forgotten_after_30_days(store: Store, clock: FakeClock) -> None:
    host = _host(store)
    _queue(store, host)
    clock.advance(days=29)
    assert store.friend_invitations.forget_senders() == 0
    clock.advance(days=2)
    assert store.friend_invitations.forget_senders() == 1
    assert _row(store).sender_id is None


def test_a_closed_accounts_invitations_are_given_up(store: Store) -> None:
    host = _host(store)
    _queue(store, host)
    assert host.account_id is not None
    store.accounts.shred_account(OPERATOR, host.account_id)
    assert store.friend_invitations.take_due(SENDER, lease=LEASE) == []
    row = _row(store)
    assert (row.status, row.last_error, row.address_enc) == (
        "failed",
        "the account was closed",
        None,
    )


def test_unsubscribe_moves_the_hash_and_deletes_the_row(store: Store) -> None:
    host = _host(store)
    token = _queue(store, host)
    digest = _row(store).address_index
    store.friend_invitations.unsubscribe("crun_" + "x" * 43, source="192.0.2.9", reason="test")
    store.friend_invitations.unsubscribe("not-a-token", source="192.0.2.9", reason="test")
    assert _row(store).address_index == digest  # nothing for a wrong link
    store.friend_invitations.unsubscribe(token, source="192.0.2.9", reason="test")
    store.friend_invitations.unsubscribe(token, source="192.0.2.9", reason="test")  # again
    with store.sessions() as session:
        assert list(session.scalars(select(FriendInvitation))) == []
    assert store.privacy_requests.suppression_index(FRIEND) == digest
    assert store.privacy_requests.suppressed(FRIEND)


def test_the_friend_sees_the_invitation_in_an_access_export_and_erasure_deletes_it(
    store: Store,
) -> None:
    from callroster.store.erasure import erase_person
    from callroster.store.subject_data import Person

    host = _host(store)
    _queue(store, host)
    _queue(store, host, "someone.else@example.org")
    friend = Person(email=FRIEND)
    [held] = store.privacy_requests.subject_data.collect(friend)["friend_invitations"]
    assert (held["status"], held["sent_by_user_id"]) == ("queued", host.actor_id)
    assert store.privacy_requests.subject_data.collect(friend)["suppression_list"] == []

    report = erase_person(store, OPERATOR, email=FRIEND.upper())
    assert report.counts["friend_invitations"] == 1
    assert store.privacy_requests.subject_data.collect(friend)["friend_invitations"] == []
    with store.sessions() as session:  # the other friend's invitation is untouched
        assert len(session.scalars(select(FriendInvitation)).all()) == 1


def test_an_unsubscribed_friend_sees_the_suppression_in_an_access_export(store: Store) -> None:
    from callroster.store.subject_data import Person

    host = _host(store)
    token = _queue(store, host)
    store.friend_invitations.unsubscribe(token, source="192.0.2.9", reason="test")
    collected = store.privacy_requests.subject_data.collect(Person(email=FRIEND))
    assert collected["friend_invitations"] == []
    [entry] = collected["suppression_list"]
    assert entry["address"] == FRIEND and entry["since"] is not None
