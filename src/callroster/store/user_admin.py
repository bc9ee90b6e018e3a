"""Looking after an account's users: list, edit, suspend, resume and remove them; delegations;
a host's conference history; deleting the account's contact list or a conference's call
history.

The store checks only that the actor may reach the account (``authorise``); which role may
do what (an administrator edits anyone of the account, a host only themselves, a delegate
never a host's profile) is the API's rule (``api.users``), which the pages call too. Every
read or change of personal data is audit-logged with ids only. Passwords never leave: a
``UserView`` has no hash, and a password can only be set, never read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor, Role
from callroster.accounts.passwords import hash_password
from callroster.errors import NotFoundError
from callroster.privacy import normalise
from callroster.store.accounts import USER_ROLES, AccountRepository, UserView, authorise, user_view
from callroster.store.audit import AuditLog
from callroster.store.conferences import ConferenceRepository
from callroster.store.contacts import ContactRepository
from callroster.store.errors import DuplicateError
from callroster.store.keys import KeyStore
from callroster.store.models import Conference, Delegation, Leg, User
from callroster.store.repository import (
    CONFERENCE_PIN,
    CONFERENCE_WEB_LINK,
    USER_EMAIL,
    USER_PHONE,
    Repository,
)
from callroster.store.retention import leg_kept
from callroster.store.sessions import SessionRepository
from callroster.store.tokens import TokenRepository

REMOVED_NAME = "Removed user"
# The conference every host is given when added (issue 13).
PERSONAL_CONFERENCE = "{name}'s conference"


@dataclass(frozen=True)
class UserSummary:
    """A user as the account's list shows them."""

    id: str
    role: Role
    name: str
    email: str | None
    phone: str | None
    suspended: bool
    removed: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class ConferenceHistory:
    """One of a host's conferences: its title, PIN, link and how it was used."""

    id: str
    title: str
    pin: str
    web_link: str
    created_at: dt.datetime
    legs: int
    last_joined_at: dt.datetime | None


class UserAdminRepository(Repository):
    """Rows other repositories own (sign-in sessions, tokens, delegations, legs, contacts)
    are changed through those repositories' ``..._in(session, ...)`` methods, inside this
    repository's transaction: one change, one transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        keys: KeyStore,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
        *,
        accounts: AccountRepository,
        conferences: ConferenceRepository,
        contacts: ContactRepository,
        tokens: TokenRepository,
        web_sessions: SessionRepository,
    ) -> None:
        super().__init__(sessions, keys, audit, clock)
        self._accounts = accounts
        self._conferences = conferences
        self._contacts = contacts
        self._tokens = tokens
        self._web_sessions = web_sessions

    def _user(self, session: Session, actor: Actor, user_id: str) -> User:
        row = session.get(User, user_id)
        if row is None:
            raise NotFoundError("no such user")
        authorise(actor, row.account_id)
        return row

    def _summary(self, row: User, *, with_phone: bool = True) -> UserSummary:
        view = user_view(self._keys, row)
        return UserSummary(
            id=view.id,
            role=view.role,
            name=view.name,
            email=view.email,
            phone=view.phone if with_phone else None,
            suspended=view.suspended,
            removed=row.removed_at is not None,
            created_at=row.created_at,
        )

    def add_user(
        self,
        actor: Actor,
        account_id: str,
        role: Role,
        name: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        password: str | None = None,
    ) -> str:
        """Add a user; a host is given their personal conference (guest PIN, host PIN, room
        link, the account's dial-in numbers) in the same transaction, so a host is never
        added without one, nor a conference left without its host."""
        with self._sessions.begin() as session:
            user_id = self._accounts.create_user_in(
                session, actor, account_id, role, name, email=email, phone=phone, password=password
            )
            if role is Role.HOST:
                session.flush()
                self._conferences.create_conference_in(
                    session, actor, user_id, PERSONAL_CONFERENCE.format(name=name)[:120]
                )
        if role is Role.HOST:
            self._conferences.pins_changed()
        return user_id

    def list_users(self, actor: Actor, account_id: str) -> list[UserSummary]:
        """Everyone of the account, oldest first (removed users last, nameless)."""
        authorise(actor, account_id)
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(User).where(User.account_id == account_id).order_by(User.created_at)
                )
            )
            self._audit.record(session, actor, "user.list", f"account:{account_id}", account_id)
            summaries = [self._summary(r) for r in rows]
        return sorted(summaries, key=lambda s: s.removed)

    def update_user(
        self,
        actor: Actor,
        user_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        role: Role | None = None,
        phone_region: str = "GB",
    ) -> UserView:
        """Change a user's name, email, phone or role. An empty email or phone clears it.

        Raises:
            NotFoundError: no such user (or removed).
            ValueError: a bad email, phone number or role.
            DuplicateError: another user has this email.
        """
        index = self._keys.blind_index()
        with self._sessions.begin() as session:
            row = self._user(session, actor, user_id)
            if row.removed_at is not None:
                raise NotFoundError("no such user")
            cipher = self._keys.cipher(row.account_id)
            if name is not None:
                if not name.strip() or len(name) > 120:
                    raise ValueError("a name is 1 to 120 characters")
                row.name_enc = cipher.encrypt("users.name", name.strip())
            if email is not None:
                email_norm = normalise.email(email) if email.strip() else None
                email_enc, digest = USER_EMAIL.seal_optional(cipher, index, email_norm)
                if digest is not None and session.scalar(
                    select(User.id).where(User.email_index == digest, User.id != user_id)
                ):
                    raise DuplicateError("another user has this email")
                row.email_enc, row.email_index = email_enc, digest
            if phone is not None:
                e164 = normalise.phone_e164(phone, phone_region) if phone.strip() else None
                row.phone_enc, row.phone_index = USER_PHONE.seal_optional(cipher, index, e164)
            became_host = role is Role.HOST and row.role != Role.HOST.value
            if role is not None:
                if role not in USER_ROLES:
                    raise ValueError(f"a user cannot have role {role}")
                row.role = role.value
            self._audit.record(session, actor, "user.update", f"user:{user_id}", row.account_id)
            if became_host and not session.scalar(
                select(Conference.id).where(Conference.host_id == user_id).limit(1)
            ):  # a new host is given their personal conference, as one added as host
                name_now = cipher.decrypt("users.name", row.name_enc)
                self._conferences.create_conference_in(
                    session, actor, user_id, PERSONAL_CONFERENCE.format(name=name_now)[:120]
                )
            view = user_view(self._keys, row)
        if became_host:
            self._conferences.pins_changed()
        return view

    def set_password(self, actor: Actor, user_id: str, password: str) -> None:
        """Set a new password (argon2id): it is never stored or shown in clear. Every
        session the old one opened ends in the same transaction."""
        if not 12 <= len(password) <= 1024:
            raise ValueError("a password is 12 to 1024 characters")
        hashed = hash_password(password)
        with self._sessions.begin() as session:
            row = self._user(session, actor, user_id)
            row.password_hash = hashed
            self._audit.record(session, actor, "user.password", f"user:{user_id}", row.account_id)
            if self._web_sessions.end_all_in(session, user_id):
                self._audit.record(session, actor, "signout.all", f"user:{user_id}", row.account_id)

    def set_suspended(self, actor: Actor, user_id: str, suspended: bool) -> None:
        """Suspend (no sign-in, no token, no call into their conferences) or resume a user.
        Suspending ends their sessions at once."""
        with self._sessions.begin() as session:
            row = self._user(session, actor, user_id)
            if row.removed_at is not None:
                raise NotFoundError("no such user")
            if suspended:
                row.suspended_at = row.suspended_at or self._clock()
                self._web_sessions.end_all_in(session, user_id)
            else:
                row.suspended_at = None
            action = "user.suspend" if suspended else "user.resume"
            self._audit.record(session, actor, action, f"user:{user_id}", row.account_id)

    def remove_user(self, actor: Actor, user_id: str) -> None:
        """Remove a user: name, email, phone, password and second factor are erased, their
        tokens revoked, sessions ended and delegations dropped. Their conferences take no
        more calls. The row stays (as "Removed user") so past call history still adds up.
        """
        with self._sessions.begin() as session:
            row = self._user(session, actor, user_id)
            now = self._clock()
            cipher = self._keys.cipher(row.account_id)
            row.name_enc = cipher.encrypt("users.name", REMOVED_NAME)
            row.email_enc = row.email_index = row.phone_enc = row.phone_index = None
            row.password_hash = row.totp_secret_enc = row.totp_state = None
            row.totp_enrolled_at = row.totp_last_step = None
            row.profile_url_enc = row.profile_consent_at = None  # their public profile
            row.suspended_at = row.suspended_at or now
            row.removed_at = row.removed_at or now
            self._web_sessions.end_all_in(session, user_id)
            self._tokens.revoke_all_of_user_in(session, user_id, now)
            self._accounts.remove_delegations_in(session, user_id)
            self._audit.record(session, actor, "user.remove", f"user:{user_id}", row.account_id)

    # -- delegations ------------------------------------------------------------------------
    def delegates_of(self, actor: Actor, host_id: str) -> list[UserSummary]:
        """The users a host has authorised to manage their conferences."""
        with self._sessions.begin() as session:
            host = self._user(session, actor, host_id)
            rows = list(
                session.scalars(
                    select(User)
                    .join(Delegation, Delegation.delegate_id == User.id)
                    .where(Delegation.host_id == host_id)
                    .order_by(Delegation.created_at)
                )
            )
            self._audit.record(
                session, actor, "delegation.list", f"user:{host_id}", host.account_id
            )
            # A host needs their delegates' names, not their phone numbers.
            return [self._summary(r, with_phone=False) for r in rows]

    def undelegate(self, actor: Actor, host_id: str, delegate_id: str) -> bool:
        """Withdraw a delegation; returns whether there was one."""
        with self._sessions.begin() as session:
            host = self._user(session, actor, host_id)
            done = self._accounts.remove_delegation_in(session, host_id, delegate_id)
            if done:
                self._audit.record(
                    session,
                    actor,
                    "delegation.remove",
                    f"user:{host_id}->user:{delegate_id}",
                    host.account_id,
                )
            return done

    # -- conferences ----------------------------------------------------------------------
    def conference_history(self, actor: Actor, host_id: str) -> list[ConferenceHistory]:
        """A host's conferences, newest first, with how many legs joined and when last
        (legs past their retention are not counted: they are hidden before the purge)."""
        with self._sessions.begin() as session:
            host = self._user(session, actor, host_id)
            scope = self._conferences.retention.scope(session, host.account_id, self._clock())
            rows = session.execute(
                select(Conference, func.count(Leg.id), func.max(Leg.joined_at))
                .outerjoin(Leg, and_(Leg.conference_id == Conference.id, leg_kept(scope)))
                .where(Conference.host_id == host_id)
                .group_by(Conference.id)
                .order_by(Conference.created_at.desc())
            ).all()
            self._audit.record(
                session, actor, "conference.history", f"user:{host_id}", host.account_id
            )
            cipher = self._keys.cipher(host.account_id)
            return [
                ConferenceHistory(
                    id=conference.id,
                    title=cipher.decrypt("conferences.title", conference.title_enc),
                    pin=CONFERENCE_PIN.open(cipher, conference.pin_enc),
                    web_link=CONFERENCE_WEB_LINK.open(cipher, conference.web_link_enc),
                    created_at=conference.created_at,
                    legs=int(count),
                    last_joined_at=_aware(last),
                )
                for conference, count, last in rows
            ]

    def delete_conference_history(self, actor: Actor, conference_id: str) -> int:
        """Delete who was on a conference's past calls (its legs: names and numbers);
        returns how many legs went. The conference itself, and its call detail records for
        billing, stay."""
        with self._sessions.begin() as session:
            row = session.get(Conference, conference_id)
            if row is None:
                raise NotFoundError("no such conference")
            authorise(actor, row.account_id)
            gone = self._conferences.delete_legs_in(session, conference_id)
            self._audit.record(
                session, actor, "legs.delete_all", f"conference:{conference_id}", row.account_id
            )
            return gone

    # -- the account's data ------------------------------------------------------------------
    def delete_contacts(self, actor: Actor, account_id: str) -> int:
        """Delete the account's whole contact list; returns how many went."""
        authorise(actor, account_id)
        with self._sessions.begin() as session:
            gone = self._contacts.delete_all_in(session, account_id)
            self._audit.record(
                session, actor, "contacts.delete_all", f"account:{account_id}", account_id
            )
            return gone


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """Aggregates bypass the column type: SQLite hands back a naive UTC time (or a string)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
