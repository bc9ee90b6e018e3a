"""Operator sessions: the operator's browser at ``/operator``, opened by pasting a live
operator token once (``web/operator.py``).

The session token (``cros_<random>``) lives only in the browser's cookie; the store keeps
its SHA-256 as the id. A session ends after ``IDLE_LIMIT`` without a request, at
``LIFETIME`` after it began whatever happens, when its operator token is revoked, or at sign
out. Opening and ending one are audit-logged with the operator token's id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor, Role
from callroster.store.audit import AuditLog
from callroster.store.models import OperatorSession, OperatorToken

PREFIX = "cros_"
IDLE_LIMIT = dt.timedelta(minutes=15)
LIFETIME = dt.timedelta(hours=8)


def operator_session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_alive(now: dt.datetime, *, last_seen_at: dt.datetime, created_at: dt.datetime) -> bool:
    """Whether an operator session is still open at ``now``."""
    return now - last_seen_at < IDLE_LIMIT and now - created_at < LIFETIME


class OperatorSessionRepository:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, clock: Callable[[], dt.datetime]
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def open(self, actor: Actor) -> str:
        """A session for the operator ``actor`` (just authenticated by its operator token,
        ``actor_id`` ``token:<id>``); returns its token, which cannot be shown again."""
        if actor.role is not Role.OPERATOR or not actor.actor_id.startswith("token:"):
            raise ValueError("an operator session needs an operator token")
        token = PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        with self._sessions.begin() as session:
            session.execute(delete(OperatorSession).where(OperatorSession.expires_at <= now))
            session.add(
                OperatorSession(
                    id=operator_session_id(token),
                    operator_token_id=actor.actor_id.removeprefix("token:"),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + LIFETIME,
                    source=actor.source[:64],
                )
            )
            self._audit.record(session, actor, "operator.signin", actor.actor_id, None)
        return token

    def authenticate(self, token: str, source: str, reason: str) -> Actor | None:
        """The operator a session token stands for (its idle limit slid to now), or None
        when it is unknown, has expired (then it is deleted) or its operator token was
        revoked."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(OperatorSession, operator_session_id(token))
            if row is None:
                return None
            operator_token = session.get(OperatorToken, row.operator_token_id)
            alive = session_alive(now, last_seen_at=row.last_seen_at, created_at=row.created_at)
            if operator_token is None or operator_token.revoked_at is not None or not alive:
                session.delete(row)
                return None
            row.last_seen_at = max(row.last_seen_at, now)
            return Actor(f"token:{row.operator_token_id}", Role.OPERATOR, None, source, reason)

    def end(self, actor: Actor, token: str) -> None:
        """Sign the operator's browser out."""
        with self._sessions.begin() as session:
            row = session.get(OperatorSession, operator_session_id(token))
            if row is None:
                return
            session.delete(row)
            self._audit.record(session, actor, "operator.signout", actor.actor_id, None)
