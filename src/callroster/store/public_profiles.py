"""A signed-in user's public profile address and their consent to show it on calls
(issue 16): the address encrypted under the account's data key, the consent as the time it
was given. Only the user themselves reads or changes it (the operator too, for the record);
every read and change is audit-logged, never with the address in the audit text.

The address is checked before it comes here (privacy/profile_url.py, by the page): storage
does not judge what an address may be.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from callroster.accounts.actor import Actor, Role
from callroster.errors import AccessDeniedError, NotFoundError
from callroster.store.models import User
from callroster.store.repository import Repository

CONTEXT = "users.profile_url"  # bound into the ciphertext: part of the stored format


@dataclass(frozen=True)
class PublicProfile:
    url: str | None
    consent_at: dt.datetime | None  # None: not shown

    @property
    def shown_url(self) -> str | None:
        """The address to show on a call: only with consent."""
        return self.url if self.consent_at is not None else None


class PublicProfileRepository(Repository):
    def get(self, actor: Actor, user_id: str) -> PublicProfile:
        """The user's own profile address and consent.

        Raises:
            NotFoundError: no such user (or removed).
            AccessDeniedError: the actor is not that user.
        """
        with self._sessions.begin() as session:
            row = self._row(session, actor, user_id)
            cipher = self._keys.cipher(row.account_id)
            url = cipher.decrypt_optional(CONTEXT, row.profile_url_enc)
            self._audit.record(session, actor, "profile.read", f"user:{user_id}", row.account_id)
            return PublicProfile(url, row.profile_consent_at if url else None)

    def save(self, actor: Actor, user_id: str, url: str | None, consent: bool) -> str | None:
        """Keep the address (None: forget it) and whether it may be shown.

        Returns:
            ``"given"`` or ``"withdrawn"`` when the consent changed, else None. Consent
            without an address is no consent.

        Raises:
            NotFoundError: no such user (or removed).
            AccessDeniedError: the actor is not that user.
        """
        with self._sessions.begin() as session:
            row = self._row(session, actor, user_id)
            cipher = self._keys.cipher(row.account_id)
            before = row.profile_consent_at is not None
            consent = consent and url is not None
            row.profile_url_enc = cipher.encrypt_optional(CONTEXT, url)
            if consent and not before:
                row.profile_consent_at = self._clock()
            elif not consent:
                row.profile_consent_at = None
            change = "given" if consent and not before else None
            if before and not consent:
                change = "withdrawn"
            subject = f"user:{user_id}"
            self._audit.record(session, actor, "profile.saved", subject, row.account_id)
            if change is not None:
                action = f"profile.consent_{change}"
                self._audit.record(session, actor, action, subject, row.account_id)
            return change

    def _row(self, session: Session, actor: Actor, user_id: str) -> User:
        row = session.get(User, user_id)
        if row is None or row.removed_at is not None:
            raise NotFoundError(f"no user {user_id}")
        if actor.role != Role.OPERATOR and actor.actor_id != user_id:
            raise AccessDeniedError(f"{actor.label} may not read another user's profile")
        if not actor.may_access_account(row.account_id):
            raise AccessDeniedError(f"{actor.label} may not access account {row.account_id}")
        return row
