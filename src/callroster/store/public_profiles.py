"""A signed-in user's public profile address and their consent to show it on calls
(issue 16): the address encrypted under the account's data key, the consent as the time it
was given. Only the user themselves reads or changes it (the operator too, for the record);
every read and change is audit-logged, never with the address in the audit text.

The address is checked before it comes here (privacy/profile_url.py, by the page): storage
does not judge what an address may be.

Every node on the database follows a change made on any of them (io/profile_watch.py): each
stored profile has a *version*, a hash of its ciphertext and its consent time, read without
decrypting anything. The ciphertext has a random nonce, so every save with consent makes a
new version, as does withdrawing it; without consent it is ``NOT_SHOWN`` (an address kept
unshown shows nothing anywhere), and a removed user's is ``REMOVED``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from callroster.accounts.actor import Actor, Role, system
from callroster.errors import AccessDeniedError, DataKeyDestroyedError, NotFoundError
from callroster.store.models import User
from callroster.store.repository import Repository

CONTEXT = "users.profile_url"  # bound into the ciphertext: part of the stored format
REMOVED = "removed"  # the version of a removed (or unknown) user's profile
NOT_SHOWN = "not shown"  # the version of a profile without consent, whatever its address
_BRIDGE = system("conference bridge")


def _version(url_enc: bytes | None, consent_at: dt.datetime | None) -> str:
    """What is shown on calls, as a token: an address kept without consent is not, so
    changing it changes nothing there."""
    if url_enc is None or consent_at is None:
        return NOT_SHOWN
    digest = hashlib.sha256(url_enc)
    digest.update(b"\0" + consent_at.astimezone(dt.UTC).isoformat().encode())
    return digest.hexdigest()[:32]


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
        return self.get_versioned(actor, user_id)[0]

    def get_versioned(self, actor: Actor, user_id: str) -> tuple[PublicProfile, str]:
        """:meth:`get`, with the version of what was read (see :meth:`versions`).

        Raises:
            NotFoundError: no such user (or removed).
            AccessDeniedError: the actor is not that user.
        """
        with self._sessions.begin() as session:
            row = self._row(session, actor, user_id)
            cipher = self._keys.cipher(row.account_id)
            url = cipher.decrypt_optional(CONTEXT, row.profile_url_enc)
            self._audit.record(session, actor, "profile.read", f"user:{user_id}", row.account_id)
            version = _version(row.profile_url_enc, row.profile_consent_at)
            return PublicProfile(url, row.profile_consent_at if url else None), version

    def versions(self, user_ids: Iterable[str]) -> dict[str, str]:
        """The version of each user's stored profile (``REMOVED`` for a removed or unknown
        user), in one query. It changes with every save on any node; nothing is decrypted
        and no personal data leaves here, so nothing is audit-logged."""
        wanted = sorted(set(user_ids))
        found = dict.fromkeys(wanted, REMOVED)
        if not wanted:
            return found
        query = select(User.id, User.profile_url_enc, User.profile_consent_at).where(
            User.id.in_(wanted), User.removed_at.is_(None)
        )
        with self._sessions() as session:
            for user_id, url_enc, consent_at in session.execute(query):
                found[user_id] = _version(url_enc, consent_at)
        return found

    def read_for_calls(self, user_id: str) -> tuple[str | None, str]:
        """What the conference bridge shows beside the user's name on the calls they are on
        from a browser: the address only with their consent (None otherwise, and for a
        removed user, or one whose account's data key is destroyed), with its version.
        Audit-logged as read by the bridge."""
        with self._sessions.begin() as session:
            row = session.get(User, user_id)
            if row is None or row.removed_at is not None:
                return None, REMOVED
            version = _version(row.profile_url_enc, row.profile_consent_at)
            if row.profile_url_enc is None or row.profile_consent_at is None:
                return None, version  # nothing shown: nothing personal read
            try:
                cipher = self._keys.cipher(row.account_id)
            except (DataKeyDestroyedError, NotFoundError):  # the account is shredded
                return None, version  # unreadable: never shown again
            url = cipher.decrypt_optional(CONTEXT, row.profile_url_enc)
            self._audit.record(session, _BRIDGE, "profile.read", f"user:{user_id}", row.account_id)
            return url, version

    def save(self, actor: Actor, user_id: str, url: str | None, consent: bool) -> str | None:
        """Keep the address (None: forget it) and whether it may be shown.

        Returns:
            ``"given"`` or ``"withdrawn"`` when the consent changed, else None. Consent
            without an address is no consent.

        Raises:
            NotFoundError: no such user (or removed).
            AccessDeniedError: the actor is not that user.
        """
        return self.save_versioned(actor, user_id, url, consent)[0]

    def save_versioned(
        self, actor: Actor, user_id: str, url: str | None, consent: bool
    ) -> tuple[str | None, str]:
        """:meth:`save`, with the version it wrote (see :meth:`versions`).

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
            session.flush()  # the version of what the database holds, as any node reads it
            session.refresh(row, ["profile_url_enc", "profile_consent_at"])
            return change, _version(row.profile_url_enc, row.profile_consent_at)

    def _row(self, session: Session, actor: Actor, user_id: str) -> User:
        row = session.get(User, user_id)
        if row is None or row.removed_at is not None:
            raise NotFoundError(f"no user {user_id}")
        if actor.role != Role.OPERATOR and actor.actor_id != user_id:
            raise AccessDeniedError(f"{actor.label} may not read another user's profile")
        if not actor.may_access_account(row.account_id):
            raise AccessDeniedError(f"{actor.label} may not access account {row.account_id}")
        return row
