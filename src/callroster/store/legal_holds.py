"""Legal holds: the operator takes a conference, a host's conferences or a whole account out
of retention (neither hidden nor purged) until the hold is released. Operators only; every
placement, release and listing is audit-logged. A hold carries ids and the operator's
reference, never personal data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor, Role
from callroster.errors import NotFoundError
from callroster.store.audit import AuditLog
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.models import Account, Conference, LegalHold, User
from callroster.store.repository import affected
from callroster.store.retention import HOLD_KINDS

REASON_LIMIT = 200


@dataclass(frozen=True)
class LegalHoldView:
    id: str
    kind: str
    target_id: str
    account_id: str
    reason: str
    created_by: str
    created_at: dt.datetime


def _authorise(actor: Actor) -> None:
    if actor.role not in (Role.OPERATOR, Role.SYSTEM):
        raise AccessDeniedError(f"{actor.label} may not manage legal holds")


def _view(row: LegalHold) -> LegalHoldView:
    return LegalHoldView(
        id=row.id,
        kind=row.kind,
        target_id=row.target_id,
        account_id=row.account_id,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class LegalHoldRepository:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, clock: Callable[[], dt.datetime]
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def place(self, actor: Actor, kind: str, target_id: str, reason: str) -> LegalHoldView:
        """Hold a conference, a host (all their conferences and the calls they placed) or an
        account.

        Raises:
            AccessDeniedError: not an operator.
            ValueError: an unknown kind, or an empty or over-long reason.
            NotFoundError: no such conference, host or account.
            DuplicateError: that target is already held.
        """
        _authorise(actor)
        if kind not in HOLD_KINDS:
            raise ValueError(f"a hold is on one of {', '.join(HOLD_KINDS)}")
        reason = reason.strip()
        if not reason or len(reason) > REASON_LIMIT:
            raise ValueError(f"give a reason (a case reference) of 1 to {REASON_LIMIT} characters")
        hold_id = str(uuid.uuid4())
        try:
            with self._sessions.begin() as session:
                account_id = self._account_of(session, kind, target_id)
                row = LegalHold(
                    id=hold_id,
                    kind=kind,
                    target_id=target_id,
                    account_id=account_id,
                    reason=reason,
                    created_by=actor.label[:80],
                    created_at=self._clock(),
                )
                session.add(row)
                session.flush()
                self._audit.record(
                    session, actor, "legal_hold.place", f"{kind}:{target_id}", account_id
                )
                return _view(row)
        except IntegrityError:
            raise DuplicateError(f"{kind} {target_id} is already held") from None

    def release(self, actor: Actor, hold_id: str) -> bool:
        """Release a hold (retention applies again at once); whether there was one."""
        _authorise(actor)
        with self._sessions.begin() as session:
            row = session.get(LegalHold, hold_id)
            if row is None:
                return False
            subject, account_id = f"{row.kind}:{row.target_id}", row.account_id
            affected(session, delete(LegalHold).where(LegalHold.id == hold_id))
            self._audit.record(session, actor, "legal_hold.release", subject, account_id)
            return True

    def list(self, actor: Actor) -> list[LegalHoldView]:
        """Every hold, oldest first (audit-logged)."""
        _authorise(actor)
        with self._sessions.begin() as session:
            rows = list(session.scalars(select(LegalHold).order_by(LegalHold.created_at)))
            self._audit.record(session, actor, "legal_hold.list", "legal_holds", None)
            return [_view(row) for row in rows]

    @staticmethod
    def _account_of(session: Session, kind: str, target_id: str) -> str:
        if kind == "conference":
            conference = session.get(Conference, target_id)
            if conference is not None:
                return conference.account_id
        elif kind == "host":
            user = session.get(User, target_id)
            if user is not None:
                return user.account_id
        elif session.get(Account, target_id) is not None:
            return target_id
        raise NotFoundError(f"no {kind} {target_id}")
