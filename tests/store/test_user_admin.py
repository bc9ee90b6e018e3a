"""Looking after an account's users: edits, passwords, suspension, removal, delegations, a
host's conference history and deleting an account's contacts or a conference's legs. What
other repositories own (sessions, tokens, delegations, legs, contacts) changes through them,
in the same transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.store.legs import add_leg

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.errors import NotFoundError
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.models import Conference
from callroster.store.store import Store
from callroster.store.user_admin import REMOVED_NAME

OPERATOR = operator_cli("test")
PASSWORD = "correct horse battery"


def _account(store: Store) -> tuple[str, str, str]:
    """An account with an administrator and a host (with email, phone and password)."""
    account_id = store.accounts.create_account(OPERATOR, "Hale & Partners LLP", "london")
    admin_id = store.accounts.create_user(OPERATOR, account_id, Role.ADMINISTRATOR, "Ada Admin")
    host_id = store.accounts.create_user(
        OPERATOR,
        account_id,
        Role.HOST,
        "Grace Hopper",
        email="grace@hale.example",
        phone="+44 20 7946 0123",
        password=PASSWORD,
    )
    return account_id, admin_id, host_id


def _signed_in(store: Store, account_id: str, user_id: str) -> str:
    actor = Actor(user_id, Role.HOST, account_id, "127.0.0.1", "sign-in")
    return store.web_sessions.create(actor, user_id, stay_signed_in=False, second_factor_done=True)


def _stranger(store: Store) -> Actor:
    other = store.accounts.create_account(OPERATOR, "Stranger Ltd", "sydney")
    return Actor("u9", Role.ADMINISTRATOR, other, "127.0.0.1", "test")


def test_list_users_oldest_first_removed_last(store: Store, clock: FakeClock) -> None:
    account_id, admin_id, host_id = _account(store)
    clock.advance(seconds=1)
    late = store.accounts.create_user(OPERATOR, account_id, Role.DELEGATE, "Dee Legate")
    store.users.remove_user(OPERATOR, host_id)
    listed = store.users.list_users(OPERATOR, account_id)
    assert [u.id for u in listed] == [admin_id, late, host_id]
    assert [u.removed for u in listed] == [False, False, True]
    assert listed[0].role == Role.ADMINISTRATOR and listed[1].name == "Dee Legate"
    assert "user.list" in [e.action for e in store.audit.entries(account_id, limit=3)]
    with pytest.raises(AccessDeniedError):
        store.users.list_users(_stranger(store), account_id)


def test_update_a_users_name_email_phone_and_role(store: Store) -> None:
    account_id, _, host_id = _account(store)
    view = store.users.update_user(
        OPERATOR,
        host_id,
        name="  Grace B. Hopper ",
        email="GBH@Hale.example",
        phone="020 7946 0999",
        role=Role.ADMINISTRATOR,
    )
    assert (view.name, view.email, view.phone, view.role) == (
        "Grace B. Hopper",
        "gbh@hale.example",
        "+442079460999",
        Role.ADMINISTRATOR,
    )
    assert store.accounts.find_user_ids_by_email("gbh@hale.example") == [host_id]
    assert store.accounts.find_user_ids_by_email("grace@hale.example") == []
    assert store.accounts.find_user_ids_by_phone("+442079460999") == [host_id]
    cleared = store.users.update_user(OPERATOR, host_id, email="", phone=" ")
    assert (cleared.email, cleared.phone) == (None, None)
    assert store.accounts.find_user_ids_by_phone("+442079460999") == []
    assert "user.update" in [e.action for e in store.audit.entries(account_id, limit=2)]


def test_update_refuses_bad_values_and_a_taken_email(store: Store) -> None:
    account_id, admin_id, host_id = _account(store)
    store.users.update_user(OPERATOR, admin_id, email="ada@hale.example")
    with pytest.raises(DuplicateError):
        store.users.update_user(OPERATOR, host_id, email="ADA@hale.example")
    store.users.update_user(OPERATOR, host_id, email="grace@hale.example")  # its own: fine
    for bad in ({"name": " "}, {"name": "x" * 121}, {"phone": "call me"}, {"role": Role.GUEST}):
        with pytest.raises(ValueError):
            store.users.update_user(OPERATOR, host_id, **bad)
    with pytest.raises(NotFoundError):
        store.users.update_user(OPERATOR, "no-such-user", name="X")
    with pytest.raises(AccessDeniedError):
        store.users.update_user(_stranger(store), host_id, name="X")
    store.users.remove_user(OPERATOR, host_id)
    with pytest.raises(NotFoundError):
        store.users.update_user(OPERATOR, host_id, name="Back")


def test_a_new_password_ends_the_users_sessions_in_the_same_change(store: Store) -> None:
    account_id, admin_id, host_id = _account(store)
    session = _signed_in(store, account_id, host_id)
    others = _signed_in(store, account_id, admin_id)
    store.users.set_password(OPERATOR, host_id, "a brand new passphrase")
    assert store.accounts.check_password(host_id, "a brand new passphrase")
    assert not store.accounts.check_password(host_id, PASSWORD)
    assert store.web_sessions.authenticate(session) is None
    assert store.web_sessions.authenticate(others) is not None  # only that user's
    actions = [e.action for e in store.audit.entries(account_id, limit=2)]
    assert actions[:2] == ["signout.all", "user.password"]
    with pytest.raises(ValueError):
        store.users.set_password(OPERATOR, host_id, "too short")
    with pytest.raises(NotFoundError):
        store.users.set_password(OPERATOR, "no-such-user", "a brand new passphrase")


def test_a_refused_password_change_ends_no_session(store: Store) -> None:
    account_id, _, host_id = _account(store)
    session = _signed_in(store, account_id, host_id)
    with pytest.raises(AccessDeniedError):
        store.users.set_password(_stranger(store), host_id, "a brand new passphrase")
    assert store.web_sessions.authenticate(session) is not None
    assert store.accounts.check_password(host_id, PASSWORD)


def test_suspend_ends_sessions_and_resume_restores_sign_in(store: Store, clock: FakeClock) -> None:
    account_id, _, host_id = _account(store)
    session = _signed_in(store, account_id, host_id)
    store.users.set_suspended(OPERATOR, host_id, True)
    assert store.accounts.get_user(OPERATOR, host_id).suspended
    assert store.web_sessions.authenticate(session) is None
    store.users.set_suspended(OPERATOR, host_id, False)
    assert not store.accounts.get_user(OPERATOR, host_id).suspended
    actions = [e.action for e in store.audit.entries(account_id, limit=5)]
    assert actions.index("user.resume") < actions.index("user.suspend")  # newest first
    with pytest.raises(NotFoundError):
        store.users.set_suspended(OPERATOR, "no-such-user", True)


def test_remove_erases_revokes_ends_and_drops_delegations(store: Store, clock: FakeClock) -> None:
    account_id, admin_id, host_id = _account(store)
    delegate_id = store.accounts.create_user(OPERATOR, account_id, Role.DELEGATE, "Dee")
    store.accounts.delegate(OPERATOR, host_id, delegate_id)
    token = store.tokens.issue(OPERATOR, account_id, host_id, {"roster:read"}, "phone")
    session = _signed_in(store, account_id, host_id)
    clock.advance(hours=1)
    store.users.remove_user(OPERATOR, host_id)
    view = store.accounts.get_user(OPERATOR, host_id)
    assert (view.name, view.email, view.phone, view.suspended) == (REMOVED_NAME, None, None, True)
    assert store.accounts.find_user_ids_by_email("grace@hale.example") == []
    assert not store.accounts.check_password(host_id, PASSWORD)
    assert store.tokens.authenticate(token) is None
    [listed] = [t for t in store.tokens.for_account(OPERATOR, account_id) if t.user_id == host_id]
    assert listed.revoked_at == clock.now
    assert store.web_sessions.authenticate(session) is None
    assert store.accounts.hosts_delegated_to(delegate_id) == []
    assert [u.id for u in store.users.list_users(OPERATOR, account_id) if u.removed] == [host_id]
    assert store.users.list_users(OPERATOR, account_id)[0].id == admin_id
    with pytest.raises(NotFoundError):
        store.users.remove_user(OPERATOR, "no-such-user")


def test_delegates_are_listed_without_phones_and_withdrawn(store: Store) -> None:
    account_id, _, host_id = _account(store)
    delegate_id = store.accounts.create_user(
        OPERATOR, account_id, Role.DELEGATE, "Dee", phone="+447700900555"
    )
    store.accounts.delegate(OPERATOR, host_id, delegate_id)
    [listed] = store.users.delegates_of(OPERATOR, host_id)
    assert (listed.id, listed.name, listed.phone) == (delegate_id, "Dee", None)
    assert store.users.undelegate(OPERATOR, host_id, delegate_id)
    assert not store.users.undelegate(OPERATOR, host_id, delegate_id)
    assert store.users.delegates_of(OPERATOR, host_id) == []
    actions = [e.action for e in store.audit.entries(account_id, limit=3)]
    assert "delegation.remove" in actions
    with pytest.raises(AccessDeniedError):
        store.users.delegates_of(_stranger(store), host_id)
    with pytest.raises(NotFoundError):
        store.users.undelegate(OPERATOR, "no-such-host", delegate_id)


def test_a_hosts_conference_history(store: Store, clock: FakeClock) -> None:
    _, _, host_id = _account(store)
    quiet = store.conferences.create_conference(OPERATOR, host_id, "Quiet one", pin="22222222")
    clock.advance(minutes=1)
    busy = store.conferences.create_conference(OPERATOR, host_id, "Busy one", pin="33333333")
    for minutes in (2, 3):
        clock.advance(minutes=minutes)
        add_leg(store, busy)
    history = store.users.conference_history(OPERATOR, host_id)
    assert [(h.id, h.title, h.pin, h.legs) for h in history] == [
        (busy, "Busy one", "33333333", 2),
        (quiet, "Quiet one", "22222222", 0),
    ]
    assert history[0].last_joined_at == clock.now
    assert history[0].last_joined_at is not None and history[0].last_joined_at.tzinfo
    assert history[1].last_joined_at is None
    assert isinstance(history[0].created_at, dt.datetime)


def test_deleting_a_conferences_history_keeps_the_conference(store: Store) -> None:
    account_id, _, host_id = _account(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "T")
    for _ in range(3):
        add_leg(
            store,
            conference_id,
            name="Caller",
            name_source="entered",
            number="+447700900123",
            withheld=False,
        )
    assert store.users.delete_conference_history(OPERATOR, conference_id) == 3
    assert store.conferences.legs(OPERATOR, conference_id) == []
    assert store.conferences.get_conference(OPERATOR, conference_id).title == "T"
    assert "legs.delete_all" in [e.action for e in store.audit.entries(account_id, limit=3)]
    with pytest.raises(NotFoundError):
        store.users.delete_conference_history(OPERATOR, "no-such-conference")
    with pytest.raises(AccessDeniedError):
        store.users.delete_conference_history(_stranger(store), conference_id)


def test_deleting_the_accounts_contacts_only(store: Store) -> None:
    account_id, _, _ = _account(store)
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    for account, phone in ((account_id, "+447700900001"), (account_id, "+447700900002")):
        store.contacts.add(OPERATOR, account, "Someone", phone=phone)
    store.contacts.add(OPERATOR, other, "Kept", phone="+447700900003")
    assert store.users.delete_contacts(OPERATOR, account_id) == 2
    assert store.contacts.name_for_number(OPERATOR, account_id, "+447700900001") is None
    assert store.contacts.name_for_number(OPERATOR, other, "+447700900003") == "Kept"
    assert "contacts.delete_all" in [e.action for e in store.audit.entries(account_id, limit=1)]
    with pytest.raises(AccessDeniedError):
        store.users.delete_contacts(_stranger(store), account_id)


def test_a_host_added_is_given_their_personal_conference_in_the_same_change(
    store: Store,
) -> None:
    account_id = store.accounts.create_account(OPERATOR, "Hale & Partners LLP", "london")
    store.numbers.add(OPERATOR, "+442079460000")
    host_id = store.users.add_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
    delegate_id = store.users.add_user(OPERATOR, account_id, Role.DELEGATE, "Dee Legate")
    [conference_id] = store.conferences.conferences_of_host(host_id)
    view = store.conferences.get_conference(OPERATOR, conference_id)
    assert view.title == "Grace Hopper's conference"
    assert len(view.pin) == 8 and view.host_pin and len(view.host_pin) == 10
    assert view.dial_in_numbers == ("+442079460000",) and len(view.web_link) == 16
    assert store.conferences.conferences_of_host(delegate_id) == []
    # A delegate made host is given one too; an existing host keeps theirs only.
    store.users.update_user(OPERATOR, delegate_id, role=Role.HOST)
    assert len(store.conferences.conferences_of_host(delegate_id)) == 1
    store.users.update_user(OPERATOR, host_id, role=Role.HOST)
    assert store.conferences.conferences_of_host(host_id) == [conference_id]


def test_a_host_refused_leaves_no_conference_behind(store: Store) -> None:
    account_id, _, _ = _account(store)
    with pytest.raises(DuplicateError):
        store.users.add_user(
            OPERATOR, account_id, Role.HOST, "Grace Again", email="grace@hale.example"
        )
    with store.sessions() as session:
        titles = list(session.scalars(select(Conference.id)))
    assert titles == []
