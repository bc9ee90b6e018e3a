"""Crypto-shredding, proved on the bytes: the plaintext number is never in the database file
or its SQL dump, and once the account's data key is destroyed nothing decrypts it."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.store.raw_bytes import assert_found_when_planted, clear_forms, raw_views

from callroster.accounts.actor import Role, operator_cli
from callroster.config import Settings
from callroster.errors import DataKeyDestroyedError
from callroster.privacy.keys import DecryptionError, FieldCipher
from callroster.store.models import AccountKey, User
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("test")
NUMBER = "+447700900461"
NAME = "Rosalind Franklin"


def test_shredding_makes_personal_data_unreadable(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    account_id = store.accounts.create_account(OPERATOR, "Franklin Chambers", "london")
    user_id = store.accounts.create_user(
        OPERATOR, account_id, Role.HOST, NAME, phone=NUMBER, email="rosalind@franklin.example"
    )
    conference = store.conferences.create_conference(OPERATOR, user_id, "Crystal review")
    store.conferences.add_leg(
        OPERATOR,
        conference,
        joined_via="dial_in",
        name=NAME,
        name_source="user",
        number=NUMBER,
        withheld=False,
    )

    # Before: readable through the service, absent from the raw bytes.
    assert store.accounts.get_user(OPERATOR, user_id).phone == NUMBER
    store.close()  # the last connection closing checkpoints SQLite's WAL into the file
    for view in raw_views(settings, request):
        for form in clear_forms(NUMBER) + clear_forms(NAME):
            assert form not in view

    with store.sessions() as session:
        phone_blob = session.scalars(select(User.phone_enc).where(User.id == user_id)).one()
        wrapped = session.get_one(AccountKey, account_id).wrapped_key
    assert phone_blob is not None and wrapped is not None
    # The wrapped key as stored is itself in the dump before shredding...
    assert any(wrapped.hex().encode() in v or wrapped in v for v in raw_views(settings, request))

    store.accounts.shred_account(OPERATOR, account_id)

    # After: the service cannot read it, from this process or a freshly started one.
    with pytest.raises(DataKeyDestroyedError):
        store.accounts.get_user(OPERATOR, user_id)
    restarted = open_store(settings)
    try:
        with pytest.raises(DataKeyDestroyedError):
            restarted.accounts.get_user(OPERATOR, user_id)
        with pytest.raises(DataKeyDestroyedError):
            restarted.conferences.legs(OPERATOR, conference)
    finally:
        restarted.close()
    store.close()
    views = raw_views(settings, request)
    # ...and gone after it; the ciphertext remains but no key in the store opens it.
    assert not any(wrapped.hex().encode() in v or wrapped in v for v in views)
    for view in views:
        for form in clear_forms(NUMBER) + clear_forms(NAME):
            assert form not in view
    # Even the master key cannot help: there is nothing left to unwrap.
    with store.sessions() as session:
        row = session.get_one(AccountKey, account_id)
        assert row.wrapped_key is None and row.destroyed_at is not None
    with pytest.raises(DecryptionError):
        FieldCipher(account_id, b"\x00" * 32).decrypt("users.phone", phone_blob)
    assert store.audit.entries(account_id, limit=1)[0].action == "account.shred"
    store.close()
    # The positive control: the same searches find the number, the name and the wrapped key
    # once they are there.
    assert_found_when_planted(settings, request, NUMBER, NAME, wrapped)


def test_shredding_one_account_leaves_others_readable(store: Store) -> None:
    gone = store.accounts.create_account(OPERATOR, "Gone LLP", "london")
    kept = store.accounts.create_account(OPERATOR, "Kept LLP", "london")
    kept_user = store.accounts.create_user(OPERATOR, kept, Role.HOST, "Kept Host", phone=NUMBER)
    store.accounts.shred_account(OPERATOR, gone)
    assert store.accounts.get_user(OPERATOR, kept_user).phone == NUMBER
    # The blind index still finds the kept user's number.
    assert store.accounts.find_user_ids_by_phone(NUMBER) == [kept_user]
