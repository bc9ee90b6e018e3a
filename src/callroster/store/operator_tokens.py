"""Operator tokens: ``cro_<random>`` bearer tokens for the operator API (SIP trunks today).

The operator is platform staff, not a user of any account, so these tokens live apart from
the accounts' API keys. Only an operator at the server's command line may issue, list or
revoke one; only the token's SHA-256 is stored; each use updates its last-used time; issue
and revocation are audit-logged with the token's id (never the token), and what a token is
used for is audit-logged by the repository it reaches (the trunks').
"""

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
from callroster.errors import NotFoundError
from callroster.store.audit import AuditLog
from callroster.store.errors import AccessDeniedError
from callroster.store.models import OperatorToken

PREFIX = "cro_"
MAX_TOKEN_LENGTH = 200


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class OperatorTokenView:
    """An operator token as listed: never the token itself."""

    id: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _authorise(actor: Actor) -> None:
    if actor.role is not Role.OPERATOR:
        raise AccessDeniedError(f"{actor.label} may not manage operator tokens")


class OperatorTokenRepository:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, clock: Callable[[], dt.datetime]
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def issue(self, actor: Actor, label: str) -> tuple[str, str]:
        """Create a token. Returns (token id, token); the token cannot be shown again.

        Raises:
            AccessDeniedError: the actor is not an operator.
            ValueError: the label is empty.
        """
        _authorise(actor)
        label = label.strip()
        if not label:
            raise ValueError("give the token a label (who or what it is for)")
        token = PREFIX + secrets.token_urlsafe(32)
        token_id = str(uuid.uuid4())
        with self._sessions.begin() as session:
            session.add(
                OperatorToken(
                    id=token_id,
                    token_hash=_digest(token),
                    label=label[:64],
                    created_at=self._clock(),
                )
            )
            self._audit.record(session, actor, "operator_token.issue", f"token:{token_id}", None)
        return token_id, token

    def authenticate(self, token: str, source: str, reason: str) -> Actor | None:
        """The operator a token stands for (its use audit-logged), or None if it is not a
        live operator token."""
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            return None
        with self._sessions.begin() as session:
            row = session.scalar(
                select(OperatorToken).where(OperatorToken.token_hash == _digest(token))
            )
            if row is None or row.revoked_at is not None:
                return None
            row.last_used_at = self._clock()
            return Actor(f"token:{row.id}", Role.OPERATOR, None, source, reason)

    def list(self, actor: Actor) -> list[OperatorTokenView]:
        _authorise(actor)
        with self._sessions.begin() as session:
            rows = session.scalars(select(OperatorToken).order_by(OperatorToken.created_at))
            return [
                OperatorTokenView(r.id, r.label, r.created_at, r.last_used_at, r.revoked_at)
                for r in rows
            ]

    def revoke(self, actor: Actor, token_id: str) -> None:
        """Revoke a token by its id (or a unique start of it, as listed).

        Raises:
            AccessDeniedError: the actor is not an operator.
            NotFoundError: no token, or more than one, has that id.
        """
        _authorise(actor)
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(OperatorToken).where(
                        OperatorToken.id.startswith(token_id, autoescape=True)
                    )
                )
            )
            if len(token_id) < 4 or len(rows) != 1:
                raise NotFoundError(f"no operator token with id {token_id!r}")
            row = rows[0]
            if row.revoked_at is None:
                row.revoked_at = self._clock()
                self._audit.record(session, actor, "operator_token.revoke", f"token:{row.id}", None)
