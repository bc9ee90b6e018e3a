"""The audit log: append-only, each entry chained to the previous one by SHA-256.

``verify`` recomputes the chain and names the first entry that was edited, deleted or
inserted behind the service's back (a changed field breaks its hash; a deleted row leaves a
gap in ``seq`` and breaks the next entry's ``prev_hash``). Checked against an anchor (the
head recorded outside the database, ``store.audit_anchor``), it also catches the newest
entries cut off, and a log rewritten with every later hash recomputed, up to that anchor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor
from callroster.store.models import AuditEntry

GENESIS = b"\x00" * 32


def entry_hash(prev_hash: bytes, entry: AuditEntry) -> bytes:
    canonical = json.dumps(
        [
            entry.seq,
            entry.at.isoformat(),
            entry.account_id,
            entry.actor,
            entry.action,
            entry.subject,
            entry.source,
            entry.reason,
        ],
        separators=(",", ":"),
    ).encode()
    return hashlib.sha256(prev_hash + canonical).digest()


@dataclass(frozen=True)
class Anchor:
    """An entry's number and hash, recorded outside the database to check the log against."""

    seq: int
    entry_hash: bytes


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    what: str


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], dt.datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def record(
        self,
        session: Session,
        actor: Actor,
        action: str,
        subject: str,
        account_id: str | None,
    ) -> AuditEntry:
        """Append one entry inside the caller's transaction (so it commits with the change).

        Appenders are serialised until their transaction commits: on PostgreSQL by a
        transaction-scoped advisory lock, on SQLite by its write lock, which every write
        transaction takes at BEGIN (``BEGIN IMMEDIATE``, see ``store.database``). Only those
        database locks: a lock of our own on top would be taken in the other order by a
        transaction that began before it appends, and two threads would wait for each other.
        """
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(7151)"))
        last = session.execute(
            select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
        ).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        entry = AuditEntry(
            seq=seq,
            at=self._clock().replace(microsecond=0),
            account_id=account_id,
            actor=actor.label[:80],
            action=action[:64],
            subject=subject[:120],
            source=actor.source[:64],
            reason=actor.reason[:200],
            prev_hash=prev,
            entry_hash=b"",
        )
        entry.entry_hash = entry_hash(prev, entry)
        session.add(entry)
        session.flush()
        return entry

    def log(self, actor: Actor, action: str, subject: str, account_id: str | None) -> None:
        """Record an action that changed nothing in the store (a host control on a live
        call), in a transaction of its own."""
        with self._sessions.begin() as session:
            self.record(session, actor, action, subject, account_id)

    def entries(
        self, account_id: str | None = None, limit: int = 1000, before: int | None = None
    ) -> list[AuditEntry]:
        """The newest ``limit`` entries (of ``account_id``), or those older than ``before``."""
        with self._sessions() as session:
            query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
            if account_id is not None:
                query = query.where(AuditEntry.account_id == account_id)
            if before is not None:
                query = query.where(AuditEntry.seq < before)
            return list(session.scalars(query))

    def head(self) -> Anchor | None:
        """The newest entry's number and hash (None for an empty log)."""
        with self._sessions() as session:
            last = session.execute(
                select(AuditEntry.seq, AuditEntry.entry_hash)
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            ).first()
        return Anchor(last[0], last[1]) if last else None

    def verify(
        self, anchor: Anchor | None = None, *, since: Anchor | None = None
    ) -> AuditProblem | None:
        """Walk the chain; return the first problem, or None when the log is intact.

        Args:
            anchor: The head as it was recorded outside the database (``AnchorFile``): the
                entry it names must still be there with that hash. This catches what the
                chain alone cannot: the newest entries cut off, or the log rewritten with
                every later hash recomputed.
            since: Start at this (anchored) entry, taking it as given once its hash matches,
                and walk only the entries after it: how a running service keeps its anchor
                current without reading the whole log each time.
        """
        prev, expected_seq = GENESIS, since.seq if since else 1
        seen_anchor = anchor is None
        with self._sessions() as session:
            query = (
                select(AuditEntry).where(AuditEntry.seq >= expected_seq).order_by(AuditEntry.seq)
            )
            for entry in session.scalars(query):
                if entry.seq != expected_seq:
                    return AuditProblem(expected_seq, "entry is missing (deleted)")
                given = since is not None and entry.seq == since.seq
                if not given and entry.prev_hash != prev:
                    return AuditProblem(entry.seq, "does not follow the previous entry")
                if not given and entry.entry_hash != entry_hash(prev, entry):
                    return AuditProblem(entry.seq, "was changed after it was written")
                for expected in (since, anchor):
                    if expected is not None and entry.seq == expected.seq:
                        if entry.entry_hash != expected.entry_hash:
                            return AuditProblem(
                                entry.seq,
                                "is not the entry anchored outside the database (rewritten)",
                            )
                        seen_anchor = seen_anchor or expected is anchor
                prev, expected_seq = entry.entry_hash, expected_seq + 1
        if not seen_anchor or (since is not None and expected_seq == since.seq):
            return AuditProblem(
                expected_seq, "is missing: the log ends before the entry anchored outside it"
            )
        return None
