"""Customer accounts as the operator runs them: creating one with its first administrator
and a one-time set-up link, listing them, and their life cycle.

An account is ``active``, ``suspended`` or ``terminated``; every move is in ``TRANSITIONS``
and any other is refused (``AccountStateError``). Only an active account's users sign in and
its API keys, sessions and room links open anything (``store.sessions``, ``store.tokens``,
``store.accounts.check_sign_in``, ``api.auth``); suspending or terminating ends its users'
sessions at once. Termination records ``terminated_at``, which starts the retention clock.

The set-up link (``/setup/<token>``) carries 256 random bits; only the token's SHA-256 is
stored, it works once and for ``SETUP_LINK_LIFETIME``. The administrator's email is sealed
like every user's (ciphertext beside a blind index). Account names are unique, compared
casefolded through a blind index (kind ``account_name``); the name itself stays encrypted
under the account's key. Creating an account is one transaction: a refused email or a taken
name leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor, Role
from callroster.accounts.passwords import hash_password
from callroster.config import REGIONS
from callroster.errors import NotFoundError
from callroster.privacy import normalise
from callroster.store.audit import AuditLog
from callroster.store.errors import AccessDeniedError, DataKeyDestroyedError, DuplicateError
from callroster.store.keys import KeyStore
from callroster.store.models import Account, Leg, SetupLink, SignInSession, User
from callroster.store.repository import USER_EMAIL, Repository, affected

SETUP_PREFIX = "crsetup_"
SETUP_LINK_LIFETIME = dt.timedelta(hours=72)
ACCOUNT_NAME_KIND = "account_name"
NAME_LIMIT = 100
ADMINISTRATOR_NAME = "Administrator"  # until they give their own on their profile
PASSWORD_LENGTHS = range(12, 1025)  # as UserAdminRepository.set_password


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class AccountAction(StrEnum):
    SUSPEND = "suspend"
    RESUME = "resume"
    TERMINATE = "terminate"


PAST = {
    AccountAction.SUSPEND: "suspended",
    AccountAction.RESUME: "resumed",
    AccountAction.TERMINATE: "terminated",
}

# Every move an account may make; anything else is refused.
TRANSITIONS: dict[AccountStatus, dict[AccountAction, AccountStatus]] = {
    AccountStatus.ACTIVE: {
        AccountAction.SUSPEND: AccountStatus.SUSPENDED,
        AccountAction.TERMINATE: AccountStatus.TERMINATED,
    },
    AccountStatus.SUSPENDED: {
        AccountAction.RESUME: AccountStatus.ACTIVE,
        AccountAction.TERMINATE: AccountStatus.TERMINATED,
    },
    AccountStatus.TERMINATED: {},
}


class AccountStateError(ValueError):
    """A life-cycle move the account's status does not allow (resuming a terminated one)."""


class SetupLinkError(ValueError):
    """A set-up link that is unknown, used, expired, or of an account that is not active."""


@dataclass(frozen=True)
class CreatedAccount:
    """A new account and its administrator's set-up token (shown once, never stored)."""

    account_id: str
    administrator_id: str
    setup_token: str
    setup_expires_at: dt.datetime


@dataclass(frozen=True)
class AccountSummary:
    """An account as the operator lists it: no personal data beyond its name."""

    id: str
    name: str | None  # None once shredded
    region: str
    status: AccountStatus
    hosts: int
    conferences_this_month: int
    created_at: dt.datetime
    terminated_at: dt.datetime | None


@dataclass(frozen=True)
class SetupTarget:
    """Whom a live set-up link is for."""

    user_id: str
    account_id: str


def normal_account_name(name: str) -> str:
    """What two account names are compared by: NFKC, casefolded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def account_name(raw: str) -> str:
    """The name as stored and shown (``privacy.normalise.person_name``'s rules: no control,
    invisible or direction-changing characters).

    Raises:
        ValueError: empty, too long, or holding a refused character.
    """
    name = normalise.person_name(raw)
    if len(name) > NAME_LIMIT:
        raise ValueError(f"an account name is at most {NAME_LIMIT} characters")
    return name


def setup_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _authorise_operator(actor: Actor) -> None:
    if actor.role not in (Role.OPERATOR, Role.SYSTEM):
        raise AccessDeniedError(f"{actor.label} may not manage customer accounts")


class OnboardingRepository(Repository):
    def __init__(
        self,
        sessions: sessionmaker[Session],
        keys: KeyStore,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
    ) -> None:
        super().__init__(sessions, keys, audit, clock)

    # -- creating -------------------------------------------------------------------------
    def create_account(
        self, actor: Actor, name: str, region: str, admin_email: str
    ) -> CreatedAccount:
        """Create an account, its first administrator (no password yet) and their set-up
        link, in one transaction. Audit-logged (ids only).

        Raises:
            AccessDeniedError: the actor is not the operator.
            ValueError: a bad name, region or email.
            DuplicateError: the name is another account's, or the email another user's.
        """
        _authorise_operator(actor)
        name = account_name(name)
        if region not in REGIONS:
            raise ValueError(f"unknown region {region!r}; one of {', '.join(REGIONS)}")
        email = normalise.email(admin_email)
        index = self._keys.blind_index()
        name_index = index.of(ACCOUNT_NAME_KIND, normal_account_name(name))
        email_index = USER_EMAIL.index_of(index, email)
        account_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
        token = SETUP_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + SETUP_LINK_LIFETIME
        with self._sessions.begin() as session:
            if session.scalar(select(Account.id).where(Account.name_index == name_index)):
                raise DuplicateError("an account with this name already exists")
            if session.scalar(select(User.id).where(User.email_index == email_index)):
                raise DuplicateError("a user with this email already exists")
            session.add(
                Account(
                    id=account_id,
                    name_enc=b"",
                    name_index=name_index,
                    home_region=region,
                    # As AccountRepository.create_account: confidential by default.
                    settings={"show_numbers_to_guests": False, "recording_allowed": True},
                    status=AccountStatus.ACTIVE.value,
                    created_at=now,
                )
            )
            session.flush()
            cipher = self._keys.create_account_key(session, account_id)
            session.get_one(Account, account_id).name_enc = cipher.encrypt("accounts.name", name)
            email_enc, _ = USER_EMAIL.seal(cipher, index, email)
            session.add(
                User(
                    id=user_id,
                    account_id=account_id,
                    role=Role.ADMINISTRATOR.value,
                    name_enc=cipher.encrypt("users.name", ADMINISTRATOR_NAME),
                    email_enc=email_enc,
                    email_index=email_index,
                    created_at=now,
                )
            )
            session.flush()
            self._add_link(session, account_id, user_id, token, now)
            self._audit.record(
                session, actor, "account.create", f"account:{account_id}", account_id
            )
            self._audit.record(session, actor, "user.create", f"user:{user_id}", account_id)
            self._audit.record(session, actor, "setup_link.issue", f"user:{user_id}", account_id)
        return CreatedAccount(account_id, user_id, token, expires)

    def _add_link(
        self, session: Session, account_id: str, user_id: str, token: str, now: dt.datetime
    ) -> None:
        session.add(
            SetupLink(
                id=str(uuid.uuid4()),
                token_hash=setup_digest(token),
                account_id=account_id,
                user_id=user_id,
                created_at=now,
                expires_at=now + SETUP_LINK_LIFETIME,
            )
        )

    def new_setup_link(self, actor: Actor, account_ref: str) -> CreatedAccount:
        """A fresh set-up link for the account's first administrator who has no password
        yet (the old one expired or was lost); any earlier unused link stops working.

        Raises:
            NotFoundError: no such account.
            SetupLinkError: the account is not active, or its administrator has set up.
        """
        _authorise_operator(actor)
        token = SETUP_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        with self._sessions.begin() as session:
            account = self._find(session, account_ref)
            if account.status != AccountStatus.ACTIVE:
                raise SetupLinkError(f"account {account.id} is {account.status}")
            admin = session.scalars(
                select(User)
                .where(User.account_id == account.id, User.role == Role.ADMINISTRATOR.value)
                .order_by(User.created_at)
                .limit(1)
            ).first()
            if admin is None or admin.password_hash is not None or admin.removed_at:
                raise SetupLinkError("the account's administrator has already set up")
            session.execute(
                delete(SetupLink).where(SetupLink.user_id == admin.id, SetupLink.used_at.is_(None))
            )
            self._add_link(session, account.id, admin.id, token, now)
            self._audit.record(session, actor, "setup_link.issue", f"user:{admin.id}", account.id)
            return CreatedAccount(account.id, admin.id, token, now + SETUP_LINK_LIFETIME)

    # -- finding --------------------------------------------------------------------------
    def _find(self, session: Session, account_ref: str) -> Account:
        """An account by its id or its name."""
        row = session.get(Account, account_ref) if len(account_ref) <= 36 else None
        if row is None:
            try:
                digest = self._keys.blind_index().of(
                    ACCOUNT_NAME_KIND, normal_account_name(account_ref)
                )
            except ValueError:
                digest = None
            if digest is not None:
                row = session.scalar(select(Account).where(Account.name_index == digest))
        if row is None:
            raise NotFoundError(f"no account {account_ref!r}")
        return row

    def resolve(self, actor: Actor, account_ref: str) -> str:
        """The id of the account with this id or name."""
        _authorise_operator(actor)
        with self._sessions() as session:
            return self._find(session, account_ref).id

    def status(self, account_id: str) -> AccountStatus | None:
        """The account's status (None when there is no such account)."""
        with self._sessions() as session:
            value = session.scalar(select(Account.status).where(Account.id == account_id))
        return AccountStatus(value) if value is not None else None

    def list_accounts(self, actor: Actor, only: str | None = None) -> list[AccountSummary]:
        """Every account (or the one with id ``only``), oldest first, with its host count
        and the number of its conferences someone joined this (UTC) month. Audit-logged."""
        _authorise_operator(actor)
        now = self._clock()
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        with self._sessions.begin() as session:
            query = select(Account).order_by(Account.created_at)
            if only is not None:
                query = query.where(Account.id == only)
            rows = list(session.scalars(query))
            hosts = dict(
                session.execute(
                    select(User.account_id, func.count(User.id))
                    .where(User.role == Role.HOST.value, User.removed_at.is_(None))
                    .group_by(User.account_id)
                ).all()
            )
            held = dict(
                session.execute(
                    select(Leg.account_id, func.count(func.distinct(Leg.conference_id)))
                    .where(Leg.joined_at >= month_start)
                    .group_by(Leg.account_id)
                ).all()
            )
            subject = f"account:{only}" if only else "accounts"
            self._audit.record(session, actor, "account.list", subject, only)
        return [
            AccountSummary(
                id=row.id,
                name=self._name(row),
                region=row.home_region,
                status=AccountStatus(row.status),
                hosts=hosts.get(row.id, 0),
                conferences_this_month=held.get(row.id, 0),
                created_at=row.created_at,
                terminated_at=row.terminated_at,
            )
            for row in rows
        ]

    def _name(self, row: Account) -> str | None:
        try:
            return self._keys.cipher(row.id).decrypt("accounts.name", row.name_enc)
        except DataKeyDestroyedError:
            return None

    # -- life cycle -----------------------------------------------------------------------
    def change_status(self, actor: Actor, account_ref: str, action: AccountAction) -> str:
        """Suspend, resume or terminate an account (by id or name), as ``TRANSITIONS``
        allows. Suspending or terminating ends its users' sessions and unused set-up links
        in the same transaction. Audit-logged as ``account.<action>``; returns the account's
        id.

        Raises:
            NotFoundError: no such account.
            AccountStateError: the move is not allowed from the account's status.
        """
        _authorise_operator(actor)
        with self._sessions.begin() as session:
            row = self._find(session, account_ref)
            current = AccountStatus(row.status)
            target = TRANSITIONS[current].get(action)
            if target is None:
                raise AccountStateError(
                    f"account {row.id} is {current.value}, so it cannot be {PAST[action]}"
                )
            now = self._clock()
            row.status = target.value
            row.suspended_at = now if target == AccountStatus.SUSPENDED else None
            if target == AccountStatus.TERMINATED:
                row.terminated_at = row.terminated_at or now
            if target != AccountStatus.ACTIVE:
                affected(session, delete(SignInSession).where(SignInSession.account_id == row.id))
                affected(
                    session,
                    delete(SetupLink).where(
                        SetupLink.account_id == row.id, SetupLink.used_at.is_(None)
                    ),
                )
            self._audit.record(
                session, actor, f"account.{action.value}", f"account:{row.id}", row.id
            )
            return row.id

    # -- set-up links ---------------------------------------------------------------------
    def _live_link(self, session: Session, token: str) -> SetupLink:
        if not token.startswith(SETUP_PREFIX) or len(token) > 200:
            raise SetupLinkError("this set-up link is not valid")
        link = session.scalar(select(SetupLink).where(SetupLink.token_hash == setup_digest(token)))
        if link is None or link.used_at is not None:
            raise SetupLinkError("this set-up link is not valid or was already used")
        if link.expires_at <= self._clock():
            raise SetupLinkError("this set-up link has expired: ask your provider for a new one")
        account = session.get_one(Account, link.account_id)
        if account.status != AccountStatus.ACTIVE:
            raise SetupLinkError("this account is not active")
        return link

    def setup_target(self, token: str) -> SetupTarget:
        """Whom a set-up link is for, while it is live.

        Raises:
            SetupLinkError: unknown, used, expired, or the account is not active.
        """
        with self._sessions() as session:
            link = self._live_link(session, token)
            return SetupTarget(link.user_id, link.account_id)

    def complete_setup(self, actor: Actor, token: str, password: str) -> SetupTarget:
        """Set the administrator's first password through their set-up link, which then
        stops working. Audit-logged.

        Raises:
            SetupLinkError: the link is not live.
            ValueError: the password is not 12 to 1024 characters.
        """
        if len(password) not in PASSWORD_LENGTHS:
            raise ValueError("a password is 12 to 1024 characters")
        hashed = hash_password(password)
        with self._sessions.begin() as session:
            link = self._live_link(session, token)
            user = session.get_one(User, link.user_id)
            if user.removed_at is not None or user.suspended_at is not None:
                raise SetupLinkError("this set-up link is not valid or was already used")
            user.password_hash = hashed
            link.used_at = self._clock()
            self._audit.record(session, actor, "setup_link.use", f"user:{user.id}", link.account_id)
            self._audit.record(session, actor, "user.password", f"user:{user.id}", user.account_id)
            return SetupTarget(user.id, link.account_id)
