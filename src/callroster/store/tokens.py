"""Bearer tokens: ``cr_<random>``; only their SHA-256 is stored, so a leaked database
yields no usable token."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor, Role
from callroster.store.audit import AuditLog
from callroster.store.models import ApiToken, User

PREFIX = "cr_"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class TokenPrincipal:
    token_id: str
    account_id: str
    user_id: str | None
    role: Role
    scopes: frozenset[str]


class TokenRepository:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, clock: Callable[[], dt.datetime]
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def issue(
        self, actor: Actor, account_id: str, user_id: str | None, scopes: set[str], label: str
    ) -> str:
        """Create a token and return it; it cannot be shown again."""
        token = PREFIX + secrets.token_urlsafe(32)
        token_id = str(uuid.uuid4())
        with self._sessions.begin() as session:
            session.add(
                ApiToken(
                    id=token_id,
                    account_id=account_id,
                    user_id=user_id,
                    token_hash=_digest(token),
                    scopes=" ".join(sorted(scopes)),
                    label=label[:64],
                    created_at=self._clock(),
                )
            )
            self._audit.record(session, actor, "token.issue", f"token:{token_id}", account_id)
        return token

    def authenticate(self, token: str) -> TokenPrincipal | None:
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        with self._sessions.begin() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
            if row is None or row.revoked_at is not None:
                return None
            role = Role.ADMINISTRATOR
            if row.user_id is not None:
                user = session.get(User, row.user_id)
                if user is None or user.suspended_at is not None:
                    return None
                role = Role(user.role)
            row.last_used_at = self._clock()
            return TokenPrincipal(
                row.id, row.account_id, row.user_id, role, frozenset(row.scopes.split())
            )

    def revoke(self, actor: Actor, token_id: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(ApiToken, token_id)
            if row is None or row.revoked_at is not None:
                return
            row.revoked_at = self._clock()
            self._audit.record(session, actor, "token.revoke", f"token:{token_id}", row.account_id)
