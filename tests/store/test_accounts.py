"""Accounts and users: encrypted at rest, found by blind index, authorised, audit-logged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callroster.accounts.actor import Actor, Role, operator_cli, system
from callroster.bridge.directory import StoreDirectory
from callroster.errors import NotFoundError
from callroster.store.accounts import PinLengths
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.models import User
from callroster.store.store import Store

OPERATOR = operator_cli("test")


def _account_with_host(store: Store, phone: str = "+44 20 7946 0123") -> tuple[str, str]:
    account_id = store.accounts.create_account(OPERATOR, "Hale & Partners LLP", "london")
    host_id = store.accounts.create_user(
        OPERATOR,
        account_id,
        Role.HOST,
        "Grace Hopper",
        email="Grace@Hale.example",
        phone=phone,
        password="correct horse battery",
    )
    return account_id, host_id


def test_user_round_trip_with_no_plaintext_in_the_row(store: Store) -> None:
    account_id, host_id = _account_with_host(store)
    with store.sessions() as session:
        row = session.scalars(select(User).where(User.id == host_id)).one()
        raw = b"".join(v for v in (row.name_enc, row.email_enc, row.phone_enc) if v)
    assert b"Grace" not in raw and b"hale.example" not in raw and b"79460123" not in raw
    user = store.accounts.get_user(OPERATOR, host_id)
    assert (user.name, user.email, user.phone) == (
        "Grace Hopper",
        "grace@hale.example",
        "+442079460123",
    )
    assert store.accounts.get_account(OPERATOR, account_id).name == "Hale & Partners LLP"


def test_lookup_by_any_spelling_of_phone_and_email(store: Store) -> None:
    _, host_id = _account_with_host(store)
    assert store.accounts.find_user_ids_by_phone("020 7946 0123") == [host_id]
    assert store.accounts.find_user_ids_by_phone("+44 (0)20-7946-0123") == [host_id]
    assert store.accounts.find_user_ids_by_email(" GRACE@hale.EXAMPLE") == [host_id]
    assert store.accounts.find_user_ids_by_phone("+44 20 7946 0999") == []


def test_email_is_unique_across_accounts(store: Store) -> None:
    _account_with_host(store)
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    with pytest.raises(DuplicateError):
        store.accounts.create_user(OPERATOR, other, Role.HOST, "G. H.", email="grace@hale.example")


def test_another_accounts_user_may_not_read(store: Store) -> None:
    _, host_id = _account_with_host(store)
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    stranger = Actor("u2", Role.ADMINISTRATOR, other, "127.0.0.1", "test")
    with pytest.raises(AccessDeniedError):
        store.accounts.get_user(stranger, host_id)
    with pytest.raises(NotFoundError):
        store.accounts.get_user(OPERATOR, "no-such-user")


def test_every_personal_data_read_is_audited(store: Store) -> None:
    account_id, host_id = _account_with_host(store)
    admin = Actor("a1", Role.ADMINISTRATOR, account_id, "192.0.2.7", "GET /api/v1/users")
    store.accounts.get_user(admin, host_id)
    entry = store.audit.entries(account_id, limit=1)[0]
    assert (entry.actor, entry.action, entry.subject, entry.source, entry.reason) == (
        "administrator:a1",
        "user.read",
        f"user:{host_id}",
        "192.0.2.7",
        "GET /api/v1/users",
    )
    assert store.audit.verify() is None


def test_passwords_are_argon2_and_checked(store: Store) -> None:
    _, host_id = _account_with_host(store)
    with store.sessions() as session:
        stored = session.get_one(User, host_id).password_hash
    assert stored is not None and stored.startswith("$argon2id$")
    assert store.accounts.check_password(host_id, "correct horse battery")
    assert not store.accounts.check_password(host_id, "wrong horse battery")


def test_delegation_stays_within_the_account(store: Store) -> None:
    account_id, host_id = _account_with_host(store)
    delegate = store.accounts.create_user(OPERATOR, account_id, Role.DELEGATE, "Dee Legate")
    store.accounts.delegate(OPERATOR, host_id, delegate)
    assert store.accounts.hosts_delegated_to(delegate) == [host_id]
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    outsider = store.accounts.create_user(OPERATOR, other, Role.DELEGATE, "Out Sider")
    with pytest.raises(AccessDeniedError):
        store.accounts.delegate(OPERATOR, host_id, outsider)


def test_contacts_resolve_only_for_their_own_account(store: Store) -> None:
    account_id, _ = _account_with_host(store)
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    store.contacts.add(OPERATOR, account_id, "Katherine Johnson", phone="+1 415 555 0100")
    assert store.contacts.name_for_number(OPERATOR, account_id, "+14155550100") == (
        "Katherine Johnson"
    )
    assert store.contacts.name_for_number(OPERATOR, other, "+14155550100") is None
    own = Actor("h", Role.HOST, other, "127.0.0.1", "resolve")
    with pytest.raises(AccessDeniedError):
        store.contacts.name_for_number(own, account_id, "+14155550100")


def test_a_users_name_is_found_only_for_their_own_account(store: Store) -> None:
    account_id, _ = _account_with_host(store)  # Grace Hopper, +44 20 7946 0123
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    store.accounts.create_user(
        OPERATOR, other, Role.HOST, "Oscar Confidential-Client", phone="+44 7700 900777"
    )
    finder = system("name resolution")
    assert store.accounts.name_for_number(finder, account_id, "020 7946 0123") == "Grace Hopper"
    assert store.accounts.name_for_number(finder, other, "+447700900777") == (
        "Oscar Confidential-Client"
    )
    # Another account's user is not found from this one, nor this one's from there.
    assert store.accounts.name_for_number(finder, account_id, "+447700900777") is None
    assert store.accounts.name_for_number(finder, other, "+442079460123") is None
    outsider = Actor("h", Role.HOST, other, "127.0.0.1", "resolve")
    with pytest.raises(AccessDeniedError):
        store.accounts.name_for_number(outsider, account_id, "+442079460123")


def test_the_bridges_look_up_stays_inside_the_conferences_account(store: Store) -> None:
    account_id, _ = _account_with_host(store)
    other = store.accounts.create_account(OPERATOR, "Other Ltd", "sydney")
    store.accounts.create_user(
        OPERATOR, other, Role.HOST, "Oscar Confidential-Client", phone="+44 7700 900777"
    )
    store.contacts.add(OPERATOR, other, "Private Contact", phone="+44 7700 900778")
    store.contacts.add(OPERATOR, account_id, "Katherine Johnson", phone="+44 7700 900779")
    directory = StoreDirectory(store)
    assert directory.resolve_name(account_id, "+442079460123") == ("Grace Hopper", "user")
    assert directory.resolve_name(account_id, "+447700900779") == ("Katherine Johnson", "contact")
    assert directory.resolve_name(account_id, "+447700900777") is None
    assert directory.resolve_name(account_id, "+447700900778") is None
    # The positive control: from the other account both are found.
    assert directory.resolve_name(other, "+447700900777") == ("Oscar Confidential-Client", "user")
    assert directory.resolve_name(other, "+447700900778") == ("Private Contact", "contact")


def test_conference_pin_lookup_and_withheld_legs(store: Store) -> None:
    account_id, host_id = _account_with_host(store)
    number = store.conferences.ensure_dial_in_number("2000", "GB", "sip")
    conference_id = store.conferences.create_conference(
        OPERATOR, host_id, "Board call", dial_in_number_ids=(number,), pin="24681357"
    )
    assert store.conferences.find_by_pin("24681357") == conference_id
    assert store.conferences.find_by_pin("24681358") is None
    with pytest.raises(DuplicateError):
        store.conferences.create_conference(OPERATOR, host_id, "Twin", pin="24681357")
    view = store.conferences.get_conference(OPERATOR, conference_id)
    assert (view.title, view.pin, view.dial_in_numbers) == ("Board call", "24681357", ("2000",))
    store.conferences.add_leg(
        OPERATOR,
        conference_id,
        joined_via="dial_in",
        name=None,
        name_source=None,
        number="+44 7700 900123",
        withheld=True,
    )
    store.conferences.add_leg(
        OPERATOR,
        conference_id,
        joined_via="dial_in",
        name="Ada",
        name_source="entered",
        number="+44 7700 900456",
        withheld=False,
    )
    legs = store.conferences.legs(OPERATOR, conference_id)
    assert [(leg.name, leg.number) for leg in legs] == [
        (None, "withheld"),
        ("Ada", "+447700900456"),
    ]


def test_host_pin_opens_as_host_and_leg_status_is_recorded(store: Store) -> None:
    _, host_id = _account_with_host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Call", pin="11112222")
    view = store.conferences.get_conference(OPERATOR, conference_id)
    assert view.host_pin and view.host_pin != view.pin and len(view.host_pin) == 10
    guest = store.conferences.open_with_pin("11112222")
    host = store.conferences.open_with_pin(view.host_pin)
    assert guest is not None and not guest.as_host and guest.conference_id == conference_id
    assert host is not None and host.as_host and host.conference_id == conference_id
    assert store.conferences.open_with_pin("x1") is None
    # Another conference's guest PIN may never be this host PIN (were guest PINs as long).
    account_id, _ = store.accounts.user_account_and_role(host_id)
    store.accounts.set_pin_lengths(OPERATOR, account_id, PinLengths(guest=10, host=12))
    with pytest.raises(DuplicateError):
        store.conferences.create_conference(OPERATOR, host_id, "Twin", pin=view.host_pin)
    leg = store.conferences.add_leg(
        OPERATOR,
        conference_id,
        joined_via="dial_in",
        name=None,
        name_source=None,
        number="sipp",
        withheld=False,
    )
    store.conferences.set_leg_status(OPERATOR, leg, "left", left=True)
    [view_leg] = store.conferences.legs(OPERATOR, conference_id)
    assert view_leg.status == "left" and view_leg.left_at is not None and view_leg.number is None


def test_talk_sensitivity_is_per_conference(store: Store) -> None:
    _, host_id = _account_with_host(store)
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Call", pin="33334444")
    match = store.conferences.open_with_pin("33334444")
    assert match is not None and match.talk_sensitivity == 0.5
    store.conferences.set_talk_sensitivity(OPERATOR, conference_id, 0.9)
    match = store.conferences.open_with_pin("33334444")
    assert match is not None and match.talk_sensitivity == 0.9
    with pytest.raises(ValueError):
        store.conferences.set_talk_sensitivity(OPERATOR, conference_id, 1.5)


def test_a_new_account_hides_numbers_from_guests_until_told_otherwise(store: Store) -> None:
    account_id = store.accounts.create_account(OPERATOR, "Quiet LLP", "london")
    assert store.accounts.get_account(OPERATOR, account_id).settings == {
        "show_numbers_to_guests": False,
        "recording_allowed": True,
    }
    store.accounts.update_settings(OPERATOR, account_id, show_numbers_to_guests=True)
    settings = store.accounts.get_account(OPERATOR, account_id).settings
    assert settings["show_numbers_to_guests"] is True
