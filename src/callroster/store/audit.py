"""The audit log: append-only, each entry chained to the previous one by SHA-256.

``verify`` recomputes the chain and names the first entry that was edited, deleted or
inserted behind the service's back (a changed field breaks its hash; a deleted row leaves a
gap in ``seq`` and breaks the next entry's ``prev_hash``).
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

    def entries(self, account_id: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        with self._sessions() as session:
            query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
            if account_id is not None:
                query = query.where(AuditEntry.account_id == account_id)
            return list(session.scalars(query))

    def verify(self) -> AuditProblem | None:
        """Walk the chain; return the first problem, or None when the log is intact."""
        prev, expected_seq = GENESIS, 1
        with self._sessions() as session:
            for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
                if entry.seq != expected_seq:
                    return AuditProblem(expected_seq, "entry is missing (deleted)")
                if entry.prev_hash != prev:
                    return AuditProblem(entry.seq, "does not follow the previous entry")
                if entry.entry_hash != entry_hash(prev, entry):
                    return AuditProblem(entry.seq, "was changed after it was written")
                prev, expected_seq = entry.entry_hash, expected_seq + 1
        return None
