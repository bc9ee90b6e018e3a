"""The audit log's hash chain catches any row edited or deleted behind the service's back."""

from __future__ import annotations

from sqlalchemy import text

from callroster.accounts.actor import Role, operator_cli
from callroster.store.store import Store

OPERATOR = operator_cli("test")


def _some_history(store: Store) -> None:
    account_id = store.accounts.create_account(OPERATOR, "Audit LLP", "london")
    host = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Hal Host")
    store.accounts.get_user(OPERATOR, host)
    store.accounts.get_user(OPERATOR, host)


def test_intact_chain_verifies(store: Store) -> None:
    _some_history(store)
    assert [e.seq for e in store.audit.entries()] == [4, 3, 2, 1]
    assert store.audit.verify() is None


def test_an_edited_row_is_named(store: Store) -> None:
    _some_history(store)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'operator:someone' WHERE seq = 2"))
    problem = store.audit.verify()
    assert problem is not None and (problem.seq, problem.what) == (
        2,
        "was changed after it was written",
    )


def test_a_deleted_row_is_named(store: Store) -> None:
    _some_history(store)
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    problem = store.audit.verify()
    assert problem is not None and problem.seq == 3 and "missing" in problem.what


def test_a_rewritten_hash_breaks_the_next_link(store: Store) -> None:
    _some_history(store)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET entry_hash = prev_hash WHERE seq = 2"))
    problem = store.audit.verify()
    assert problem is not None and problem.seq == 2


def test_concurrent_writers_keep_one_unbroken_chain(store: Store) -> None:
    """Threads writing at once (the API beside the bridge's store writer) never collide."""
    from concurrent.futures import ThreadPoolExecutor

    account_id = store.accounts.create_account(OPERATOR, "Busy LLP", "london")
    host = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Busy Host")
    conference = store.conferences.create_conference(OPERATOR, host, "Busy call")

    def write(i: int) -> None:
        store.conferences.add_leg(
            OPERATOR,
            conference,
            joined_via="dial_in",
            name=None,
            name_source=None,
            number=None,
            withheld=True,
        )
        store.accounts.get_user(OPERATOR, host)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(40)))
    assert store.audit.verify() is None
    assert store.audit.entries(limit=1)[0].seq == 3 + 80
