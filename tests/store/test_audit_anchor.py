"""The audit log checked against its anchor outside the database catches what the chain
alone cannot: the newest entries cut off, and a log rewritten with every later hash
recomputed. A tampered log is never anchored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select, text

from callroster.accounts.actor import Role, operator_cli
from callroster.app import keep_audit_anchored
from callroster.config import Settings
from callroster.store import audit_anchor
from callroster.store.audit import entry_hash
from callroster.store.audit_anchor import AnchorFile
from callroster.store.models import AuditEntry
from callroster.store.store import Store

OPERATOR = operator_cli("test")


def _some_history(store: Store) -> str:
    account_id = store.accounts.create_account(OPERATOR, "Audit LLP", "london")
    host = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Hal Host")
    store.accounts.get_user(OPERATOR, host)
    store.accounts.get_user(OPERATOR, host)
    return host


@pytest.fixture
def anchor_file(tmp_path: Path) -> AnchorFile:
    return AnchorFile(tmp_path / "anchor" / "audit.anchor")


def test_an_intact_log_is_anchored_at_its_head(store: Store, anchor_file: AnchorFile) -> None:
    _some_history(store)
    assert audit_anchor.advance(store.audit, anchor_file, full=True) is None
    assert anchor_file.read() == store.audit.head()
    assert anchor_file.path.stat().st_mode & 0o777 == 0o600
    assert store.audit.verify(anchor_file.read()) is None


def test_cutting_off_the_newest_entries_is_caught(store: Store, anchor_file: AnchorFile) -> None:
    _some_history(store)
    audit_anchor.advance(store.audit, anchor_file, full=True)
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq >= 3"))
    assert store.audit.verify() is None  # the shorter chain alone checks out
    # The whole walk names the first entry missing; the walk from the anchor, the anchor's.
    for full, missing in ((True, 3), (False, 4)):
        problem = audit_anchor.advance(store.audit, anchor_file, full=full)
        assert problem is not None and problem.seq == missing and "anchored" in problem.what
    assert anchor_file.read() is not None and anchor_file.read().seq == 4  # not moved


def test_a_rewritten_log_with_recomputed_hashes_is_caught(
    store: Store, anchor_file: AnchorFile
) -> None:
    _some_history(store)
    audit_anchor.advance(store.audit, anchor_file, full=True)
    # Behind the service's back: change entry 2, then recompute every later hash.
    with store.sessions.begin() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        entries[1].actor = "operator:nobody"
        prev = entries[0].entry_hash
        for entry in entries[1:]:
            entry.prev_hash = prev
            entry.entry_hash = entry_hash(prev, entry)
            prev = entry.entry_hash
    assert store.audit.verify() is None  # the chain alone is fooled
    problem = store.audit.verify(anchor_file.read())
    assert problem is not None and problem.seq == 4 and "rewritten" in problem.what
    assert audit_anchor.advance(store.audit, anchor_file) is not None


def test_the_service_advances_the_anchor_only_over_intact_entries(
    store: Store, anchor_file: AnchorFile
) -> None:
    host = _some_history(store)
    audit_anchor.advance(store.audit, anchor_file, full=True)
    store.accounts.get_user(OPERATOR, host)
    store.accounts.get_user(OPERATOR, host)
    assert audit_anchor.advance(store.audit, anchor_file) is None
    assert anchor_file.read() == store.audit.head() and store.audit.head().seq == 6  # type: ignore[union-attr]
    store.accounts.get_user(OPERATOR, host)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET reason = 'nothing' WHERE seq = 7"))
    problem = audit_anchor.advance(store.audit, anchor_file)
    assert problem is not None and problem.seq == 7
    assert anchor_file.read().seq == 6  # type: ignore[union-attr]


def test_a_file_that_is_not_an_anchor_is_refused(anchor_file: AnchorFile) -> None:
    anchor_file.path.parent.mkdir(parents=True)
    for junk in ("", "seven abc", "3 00ff", "0 " + "00" * 32):
        anchor_file.path.write_text(junk)
        with pytest.raises(ValueError, match="not an audit anchor"):
            anchor_file.read()


async def test_the_running_service_keeps_the_anchor(store: Store, settings: Settings) -> None:
    _some_history(store)
    task = asyncio.create_task(keep_audit_anchored(store, settings, every=0.05))
    try:
        path = settings.resolved_audit_anchor_file
        for _ in range(100):
            if path.exists() and AnchorFile(path).read() == store.audit.head():
                break
            await asyncio.sleep(0.05)
        assert AnchorFile(path).read() == store.audit.head()
        store.accounts.create_account(OPERATOR, "Later LLP", "london")
        for _ in range(100):
            if AnchorFile(path).read() == store.audit.head():
                break
            await asyncio.sleep(0.05)
        assert AnchorFile(path).read() == store.audit.head()
    finally:
        task.cancel()
