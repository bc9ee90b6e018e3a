"""Bearer tokens: ``cr_<random>``; only their SHA-256 is stored, so a leaked database
yields no usable token."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor, Role
from callroster.store.audit import AuditLog
from callroster.store.errors import AccessDeniedError
from callroster.store.models import Account, ApiToken, User
from callroster.store.repository import affected

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


@dataclass(frozen=True)
class TokenView:
    """A token as its account's administrators see it: never the token."""

    id: str
    user_id: str | None  # None: a key of the account itself, not of one user
    label: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


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
        """Create a token and return it; it cannot be shown again (see ``create``)."""
        return self.create(actor, account_id, user_id, scopes, label)[1]

    def create(
        self, actor: Actor, account_id: str, user_id: str | None, scopes: set[str], label: str
    ) -> tuple[str, str]:
        """Create a token. Returns (its id, the token); the token cannot be shown again.

        Raises:
            AccessDeniedError: the actor is not of this account (or the platform).
        """
        if not actor.may_access_account(account_id):
            raise AccessDeniedError(f"{actor.label} may not issue this account's API keys")
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
        return token_id, token

    def authenticate(self, token: str) -> TokenPrincipal | None:
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        with self._sessions.begin() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
            if row is None or row.revoked_at is not None:
                return None
            account = session.get(Account, row.account_id)
            if account is None or account.status != "active":  # suspended or terminated
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

    def revoke(self, actor: Actor, token_id: str, account_id: str | None = None) -> bool:
        """Revoke a token (of ``account_id`` only, when given). Returns whether there was
        such a token; revoking one already revoked changes nothing."""
        with self._sessions.begin() as session:
            row = session.get(ApiToken, token_id)
            if row is None or (account_id is not None and row.account_id != account_id):
                return False
            if row.revoked_at is None:
                row.revoked_at = self._clock()
                self._audit.record(
                    session, actor, "token.revoke", f"token:{token_id}", row.account_id
                )
            return True

    def revoke_all_of_user_in(self, session: Session, user_id: str, at: dt.datetime) -> int:
        """Revoke every live token of a user, as of ``at``, inside the caller's transaction
        (a removal); returns how many."""
        return affected(
            session,
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=at),
        )

    def for_account(self, actor: Actor, account_id: str) -> list[TokenView]:
        """The account's tokens, newest first: what each may do and when it was last used,
        never the token itself.

        Raises:
            AccessDeniedError: the actor is not of this account (or the platform).
        """
        if not actor.may_access_account(account_id):
            raise AccessDeniedError(f"{actor.label} may not list this account's API keys")
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(ApiToken)
                .where(ApiToken.account_id == account_id)
                .order_by(ApiToken.created_at.desc())
            )
            return [
                TokenView(
                    r.id,
                    r.user_id,
                    r.label,
                    tuple(sorted(r.scopes.split())),
                    r.created_at,
                    r.last_used_at,
                    r.revoked_at,
                )
                for r in rows
            ]
