"""Room links (``/c/<link>``) are stored encrypted under the account's key and found by a
blind index (issue 12): a raw dump of the database holds no link, while the same search
finds one planted in clear, and found the links in the schema before (0009). Migration 0010
converts existing links with the master key, and 0010's downgrade gives them back."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from tests.store.legs import add_leg
from tests.store.raw_bytes import assert_found_when_planted, found, named_views

from callroster.accounts.actor import Role, operator_cli
from callroster.config import Settings
from callroster.store import migrate
from callroster.store.database import open_engine
from callroster.store.models import Conference
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("test")


def _conference(store: Store, account: str = "Hale & Partners LLP") -> tuple[str, str, str]:
    """(account id, conference id, its link)."""
    account_id = store.accounts.create_account(OPERATOR, account, "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
    number_id = store.conferences.ensure_dial_in_number(f"+4420794600{len(account)}", "GB", "sip")
    conference_id = store.conferences.create_conference(
        OPERATOR, host_id, "Board call", dial_in_number_ids=(number_id,)
    )
    add_leg(store, conference_id)  # rows that point at the conference, as in a real store
    link = store.conferences.get_conference(OPERATOR, conference_id).web_link
    return account_id, conference_id, link


def test_a_link_is_found_by_its_index_and_not_in_the_database_in_clear(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    account_id, conference_id, link = _conference(store)
    assert len(link) == 16  # token_urlsafe(12), as before
    assert store.conferences.find_by_web_link(link) == (conference_id, account_id)
    other = link[:-1] + ("x" if link[-1] != "x" else "y")  # one character off
    assert store.conferences.find_by_web_link(other) is None
    with store.sessions() as session:
        row = session.get_one(Conference, conference_id)
        sealed = row.web_link_enc
    store.close()  # the last connection closing checkpoints SQLite's WAL into the file
    views = named_views(settings, request)
    assert found(views, link) == []
    assert found(views, sealed)  # the ciphertext is there: the search looked in the right place
    assert_found_when_planted(settings, request, link)  # and finds a link once there


def test_migration_0010_encrypts_existing_links_and_its_downgrade_gives_them_back(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    account_id, conference_id, link = _conference(store)
    shredded_id, shredded_conference, _ = _conference(store, "Gone Ltd")
    store.accounts.shred_account(OPERATOR, shredded_id)
    ring = store.ring_source.ring()
    store.close()

    engine = open_engine(settings.resolved_database_url)
    try:
        migrate.downgrade(engine, "0009", key_ring=ring)
        with engine.connect() as connection:
            links = dict(connection.execute(text("SELECT id, web_link FROM conferences")).all())
        assert links[conference_id] == link
        assert links[shredded_conference] and links[shredded_conference] != link
    finally:
        engine.dispose()
    # Before: the schema of 0009 kept the link in clear, and the same search finds it.
    assert found(named_views(settings, request), link)

    engine = open_engine(settings.resolved_database_url)
    try:
        with pytest.raises(RuntimeError, match="needs the master key"):
            migrate.upgrade(engine)  # no key ring: refused, nothing changed
        assert migrate.current_revision(engine) == "0009"
        migrate.upgrade(engine, key_ring=ring)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
    assert found(named_views(settings, request), link) == []

    reopened = open_store(settings)
    try:
        assert reopened.conferences.find_by_web_link(link) == (conference_id, account_id)
        assert reopened.conferences.get_conference(OPERATOR, conference_id).web_link == link
        with reopened.sessions() as session:
            indexes = session.scalars(select(Conference.web_link_index)).all()
        assert len(set(indexes)) == 2  # the shredded one's: random, and opens nothing
    finally:
        reopened.close()
    assert_found_when_planted(settings, request, link)
