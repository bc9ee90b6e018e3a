"""Accounts, their users and delegations. Personal fields are encrypted on the way in and
decrypted on the way out only for an authorised actor, with an audit entry."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callroster.accounts.actor import Actor, Role
from callroster.accounts.passwords import hash_password, verify_against_dummy, verify_password
from callroster.config import REGIONS
from callroster.crm.target import WebhookTarget, check_secret, check_url
from callroster.errors import NotFoundError
from callroster.privacy import normalise
from callroster.store import unlinking
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.keys import KeyStore
from callroster.store.models import Account, CrmWebhook, Delegation, User
from callroster.store.onboarding import ACCOUNT_NAME_KIND, normal_account_name
from callroster.store.repository import USER_EMAIL, USER_PHONE, Repository, affected

USER_ROLES = (Role.ADMINISTRATOR, Role.HOST, Role.DELEGATE)
# Who may set or read an account's CRM webhook: its administrators, and the platform.
CRM_WEBHOOK_ROLES = (Role.ADMINISTRATOR, Role.OPERATOR, Role.SYSTEM)


@dataclass(frozen=True)
class AccountView:
    id: str
    name: str
    home_region: str
    settings: dict[str, object]


# PIN lengths an account may set (issue 12). A guest PIN of 6 digits is the shortest a
# blocked-after-a-few-tries guesser still finds only by luck; a host PIN opens the host's
# controls, so it is at least 8. The host's is always longer than the guest's: a keypad then
# reaches the guest length first and waits for more digits before trying it (PinEntry), and
# a new host PIN is made so that none of its beginnings opens a conference
# (ConferenceRepository._free_pin).
# An account's SRTP policy (``Account.settings["srtp"]``, bridge/srtp_policy.py): "offered"
# (the default) gives SRTP to callers who offer it over TLS; "required" lets no clear-text
# caller onto the account's conferences.
SRTP_SETTING = "srtp"
SRTP_POLICIES = ("offered", "required")
DEFAULT_SRTP_POLICY = "offered"

GUEST_PIN_LENGTHS = range(6, 13)
HOST_PIN_LENGTHS = range(8, 13)


@dataclass(frozen=True)
class PinLengths:
    """How many digits an account's new PINs have (the PINs it already has keep theirs).

    Raises:
        ValueError: a length out of range, or a host length not longer than the guest one.
    """

    guest: int = 8
    host: int = 10

    def __post_init__(self) -> None:
        if self.guest not in GUEST_PIN_LENGTHS:
            raise ValueError("a guest PIN is 6 to 12 digits")
        if self.host not in HOST_PIN_LENGTHS:
            raise ValueError("a host PIN is 8 to 12 digits")
        if self.host <= self.guest:
            raise ValueError("a host PIN must be longer than a guest PIN")


@dataclass(frozen=True)
class UserView:
    """A user with personal fields decrypted. Never carries the password hash."""

    id: str
    account_id: str
    role: Role
    name: str
    email: str | None
    phone: str | None
    suspended: bool


@dataclass(frozen=True)
class SignInCheck:
    """What a sign-in attempt found: the user the email belongs to (None when none does)
    and whether the password is theirs. Never carries the password or its hash."""

    user_id: str | None
    account_id: str | None
    role: Role | None
    suspended: bool
    password_ok: bool
    second_factor_enrolled: bool


def user_view(keys: KeyStore, row: User) -> UserView:
    """A user's row with its personal fields decrypted (never the password hash)."""
    cipher = keys.cipher(row.account_id)
    return UserView(
        id=row.id,
        account_id=row.account_id,
        role=Role(row.role),
        name=cipher.decrypt("users.name", row.name_enc),
        email=USER_EMAIL.open_optional(cipher, row.email_enc),
        phone=USER_PHONE.open_optional(cipher, row.phone_enc),
        suspended=row.suspended_at is not None,
    )


def authorise(actor: Actor, account_id: str) -> None:
    if not actor.may_access_account(account_id):
        raise AccessDeniedError(f"{actor.label} may not access account {account_id}")


def _authorise_crm_webhook(actor: Actor, account_id: str) -> None:
    authorise(actor, account_id)
    if actor.role not in CRM_WEBHOOK_ROLES:
        raise AccessDeniedError(
            f"{actor.label} may not manage account {account_id}'s CRM webhook: administrators only"
        )


class AccountRepository(Repository):
    # -- accounts -----------------------------------------------------------------------
    def create_account(self, actor: Actor, name: str, home_region: str) -> str:
        if home_region not in REGIONS:
            raise ValueError(f"unknown region {home_region!r}")
        account_id = str(uuid.uuid4())
        name_index: bytes | None = self._keys.blind_index().of(
            ACCOUNT_NAME_KIND, normal_account_name(name)
        )
        with self._sessions.begin() as session:
            # The operator's way in (store.onboarding) refuses a taken name; this one, the
            # demo's and tests', lets a second account share it, unindexed (as migration 0012
            # leaves the younger of two).
            if session.scalar(select(Account.id).where(Account.name_index == name_index)):
                name_index = None
            session.add(
                Account(
                    id=account_id,
                    name_enc=b"",
                    name_index=name_index,
                    home_region=home_region,
                    # Numbers stay with the host until an administrator shows them to
                    # guests: calls are confidential by default (issue 12, finding 10).
                    settings={"show_numbers_to_guests": False, "recording_allowed": True},
                    created_at=self._clock(),
                )
            )
            session.flush()
            cipher = self._keys.create_account_key(session, account_id)
            account = session.get_one(Account, account_id)
            account.name_enc = cipher.encrypt("accounts.name", name)
            self._audit.record(
                session, actor, "account.create", f"account:{account_id}", account_id
            )
        return account_id

    def get_account(self, actor: Actor, account_id: str) -> AccountView:
        authorise(actor, account_id)
        with self._sessions.begin() as session:
            row = session.get(Account, account_id)
            if row is None:
                raise NotFoundError(f"no account {account_id}")
            cipher = self._keys.cipher(account_id)
            self._audit.record(session, actor, "account.read", f"account:{account_id}", account_id)
            return AccountView(
                row.id,
                cipher.decrypt("accounts.name", row.name_enc),
                row.home_region,
                dict(row.settings),
            )

    def update_settings(self, actor: Actor, account_id: str, **changes: object) -> None:
        """Change account settings (e.g. ``show_numbers_to_guests=False``)."""
        authorise(actor, account_id)
        with self._sessions.begin() as session:
            row = session.get(Account, account_id)
            if row is None:
                raise NotFoundError(f"no account {account_id}")
            row.settings = {**row.settings, **changes}
            self._audit.record(
                session, actor, "account.settings", f"account:{account_id}", account_id
            )

    def pin_lengths(self, actor: Actor, account_id: str) -> PinLengths:
        """The lengths the account's new PINs get."""
        authorise(actor, account_id)
        with self._sessions() as session:
            row = session.get(Account, account_id)
            if row is None:
                raise NotFoundError(f"no account {account_id}")
            return PinLengths(row.guest_pin_length, row.host_pin_length)

    def set_pin_lengths(self, actor: Actor, account_id: str, lengths: PinLengths) -> None:
        """Set the lengths of the PINs made from now on (new conferences, PIN resets);
        existing PINs keep working with their length. Audit-logged."""
        authorise(actor, account_id)
        with self._sessions.begin() as session:
            row = session.get(Account, account_id)
            if row is None:
                raise NotFoundError(f"no account {account_id}")
            row.guest_pin_length, row.host_pin_length = lengths.guest, lengths.host
            self._audit.record(
                session, actor, "account.pin_lengths", f"account:{account_id}", account_id
            )

    def srtp_policy(self, actor: Actor, account_id: str) -> str:
        """The account's SRTP policy: ``offered`` or ``required``."""
        authorise(actor, account_id)
        with self._sessions() as session:
            row = session.get(Account, account_id)
            if row is None:
                raise NotFoundError(f"no account {account_id}")
            return srtp_policy_of(row)

    def set_srtp_policy(self, actor: Actor, account_id: str, policy: str) -> None:
        """Set the SRTP policy (from the next call on). Audit-logged (``account.srtp``).

        Raises:
            ValueError: not one of :data:`SRTP_POLICIES`.
        """
        if policy not in SRTP_POLICIES:
            raise ValueError(f"the SRTP policy is one of {', '.join(SRTP_POLICIES)}")
        authorise(actor, account_id)
        with self._sessions.begin() as session:
            row = session.get(Account, account_id)
            if row is None:
                raise NotFoundError(f"no account {account_id}")
            row.settings = {**(row.settings or {}), SRTP_SETTING: policy}
            self._audit.record(session, actor, "account.srtp", f"account:{account_id}", account_id)

    def requires_srtp(self, account_id: str) -> bool:
        """For the bridge: whether the account lets only encrypted calls on (an unknown
        account requires nothing; it has no conference to open)."""
        with self._sessions() as session:
            row = session.get(Account, account_id)
            return row is not None and srtp_policy_of(row) == "required"

    def account_ids(self) -> list[str]:
        with self._sessions() as session:
            return list(session.scalars(select(Account.id).order_by(Account.created_at)))

    def shred_account(self, actor: Actor, account_id: str) -> None:
        """Destroy the account's data key: all its personal data becomes unreadable, its
        blind indexes are removed (they are keyed by the platform key, which stays), and its
        credentials (tokens, sessions, set-up links, PINs, web links) stop working. A running
        service drops its cached copy of the key within ``key_watch_seconds``."""
        authorise(actor, account_id)
        with self._sessions.begin() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise NotFoundError(f"no account {account_id}")
            self._keys.destroy_account_key(session, account_id)
            now = self._clock()
            unlinking.end_credentials_in(session, account_id, now)
            unlinking.drop_indexes_of_account_in(session, account_id)
            account.terminated_at = account.terminated_at or now
            account.status = "terminated"
            account.name_index = None  # nothing left to compare a new name with
            self._audit.record(session, actor, "account.shred", f"account:{account_id}", account_id)

    # -- CRM webhook ----------------------------------------------------------------------
    def set_crm_webhook(
        self, actor: Actor, account_id: str, url: str | None, secret: str | None
    ) -> str | None:
        """Set where the account's click-to-call logs are posted, or clear it (``url`` None).

        The URL and the signing secret are encrypted under the account's data key. Without a
        ``secret`` a new one is made (``secrets.token_urlsafe(32)``) and returned, so it can
        be shown once; a secret given is not returned. The audit entry names the account,
        never the URL or the secret.

        Raises:
            AccessDeniedError: the actor is not an administrator of this account (nor the
                operator or the system).
            NotFoundError: there is no such account.
            ValueError: the URL is not http or https, the secret is not 16 to 256 printable
                characters, or a secret is given without a URL.
        """
        _authorise_crm_webhook(actor, account_id)
        sealed: tuple[bytes, bytes] | None = None
        generated = None
        if url is None:
            if secret is not None:
                raise ValueError("a signing secret needs a webhook URL")
        else:
            check_url(url)
            if secret is None:
                secret = generated = secrets.token_urlsafe(32)
            check_secret(secret)
            cipher = self._keys.cipher(account_id)
            sealed = (
                cipher.encrypt("crm_webhooks.url", url),
                cipher.encrypt("crm_webhooks.secret", secret),
            )
        with self._sessions.begin() as session:
            if session.get(Account, account_id) is None:
                raise NotFoundError(f"no account {account_id}")
            row = session.get(CrmWebhook, account_id)
            if sealed is None:
                if row is not None:
                    session.delete(row)
                action = "crm_webhook.clear"
            else:
                if row is None:
                    row = CrmWebhook(account_id=account_id)
                    session.add(row)
                row.url_enc, row.secret_enc = sealed
                row.updated_at = self._clock()
                action = "crm_webhook.set"
            self._audit.record(session, actor, action, f"account:{account_id}", account_id)
        return generated

    def crm_webhook(self, actor: Actor, account_id: str) -> WebhookTarget | None:
        """The account's CRM webhook, decrypted, or None when none is set. Audit-logged.

        The target's secret is the UTF-8 encoding of the stored secret: the key a receiver
        checks ``Callroster-Signature`` with.

        Raises:
            AccessDeniedError: the actor is not an administrator of this account (nor the
                operator or the system).
            NotFoundError: there is no such account.
            DataKeyDestroyedError: the account was shredded.
        """
        _authorise_crm_webhook(actor, account_id)
        with self._sessions.begin() as session:
            if session.get(Account, account_id) is None:
                raise NotFoundError(f"no account {account_id}")
            row = session.get(CrmWebhook, account_id)
            self._audit.record(
                session, actor, "crm_webhook.read", f"account:{account_id}", account_id
            )
            if row is None:
                return None
            cipher = self._keys.cipher(account_id)
            return WebhookTarget(
                url=cipher.decrypt("crm_webhooks.url", row.url_enc),
                secret=cipher.decrypt("crm_webhooks.secret", row.secret_enc).encode(),
            )

    # -- users --------------------------------------------------------------------------
    def create_user(
        self,
        actor: Actor,
        account_id: str,
        role: Role,
        name: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        password: str | None = None,
        phone_region: str = "GB",
    ) -> str:
        with self._sessions.begin() as session:
            return self.create_user_in(
                session,
                actor,
                account_id,
                role,
                name,
                email=email,
                phone=phone,
                password=password,
                phone_region=phone_region,
            )

    def create_user_in(
        self,
        session: Session,
        actor: Actor,
        account_id: str,
        role: Role,
        name: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        password: str | None = None,
        phone_region: str = "GB",
    ) -> str:
        """As ``create_user``, inside the caller's transaction (a host and their personal
        conference are added as one change: store.user_admin)."""
        authorise(actor, account_id)
        if role not in USER_ROLES:
            raise ValueError(f"a user cannot have role {role}")
        index = self._keys.blind_index()
        cipher = self._keys.cipher(account_id)
        email_norm = normalise.email(email) if email else None
        phone_e164 = normalise.phone_e164(phone, phone_region) if phone else None
        email_enc, email_index = USER_EMAIL.seal_optional(cipher, index, email_norm)
        phone_enc, phone_index = USER_PHONE.seal_optional(cipher, index, phone_e164)
        user_id = str(uuid.uuid4())
        if email_index and session.scalar(select(User.id).where(User.email_index == email_index)):
            raise DuplicateError("a user with this email already exists")
        session.add(
            User(
                id=user_id,
                account_id=account_id,
                role=role.value,
                name_enc=cipher.encrypt("users.name", name),
                email_enc=email_enc,
                email_index=email_index,
                phone_enc=phone_enc,
                phone_index=phone_index,
                password_hash=hash_password(password) if password else None,
                created_at=self._clock(),
            )
        )
        self._audit.record(session, actor, "user.create", f"user:{user_id}", account_id)
        return user_id

    def _view(self, row: User) -> UserView:
        return user_view(self._keys, row)

    def get_user(self, actor: Actor, user_id: str) -> UserView:
        with self._sessions.begin() as session:
            row = session.get(User, user_id)
            if row is None:
                raise NotFoundError(f"no user {user_id}")
            authorise(actor, row.account_id)
            self._audit.record(session, actor, "user.read", f"user:{user_id}", row.account_id)
            return self._view(row)

    def find_user_ids_by_email(self, email: str) -> list[str]:
        """Look-up by blind index: the store is never asked for the plaintext."""
        digest = self._index_of(USER_EMAIL, normalise.email(email))
        with self._sessions() as session:
            return list(session.scalars(select(User.id).where(User.email_index == digest)))

    def find_user_ids_by_phone(self, phone: str, region: str = "GB") -> list[str]:
        digest = self._index_of(USER_PHONE, normalise.phone_e164(phone, region))
        with self._sessions() as session:
            return list(session.scalars(select(User.id).where(User.phone_index == digest)))

    def name_for_number(
        self, actor: Actor, account_id: str, phone: str, region: str = "GB"
    ) -> str | None:
        """The name of a registered user of ``account_id`` (never of another account) with
        this number, for name resolution; the match is audit-logged."""
        authorise(actor, account_id)
        try:
            digest = self._index_of(USER_PHONE, normalise.phone_e164(phone, region))
        except normalise.InvalidValueError:
            return None
        with self._sessions.begin() as session:
            row = session.scalars(
                select(User)
                .where(
                    User.account_id == account_id,
                    User.phone_index == digest,
                    User.suspended_at.is_(None),
                )
                .order_by(User.created_at)
                .limit(1)
            ).first()
            if row is None:
                return None
            self._audit.record(session, actor, "user.match", f"user:{row.id}", row.account_id)
            return self._keys.cipher(row.account_id).decrypt("users.name", row.name_enc)

    def check_password(self, user_id: str, password: str) -> bool:
        with self._sessions() as session:
            row = session.get(User, user_id)
        if row is None or row.password_hash is None or row.suspended_at is not None:
            return False
        return verify_password(row.password_hash, password)

    def check_sign_in(self, email: str, password: str) -> SignInCheck:
        """Find the user an email belongs to (by blind index) and check the password.

        Argon2 runs whether or not the email is registered or has a password (against a
        dummy hash then), so the time taken does not tell them apart. A suspended user's
        password is checked too; the caller decides what to say.
        """
        try:
            digest: bytes | None = self._index_of(USER_EMAIL, normalise.email(email))
        except normalise.InvalidValueError:
            digest = None
        row = None
        if digest is not None:
            with self._sessions() as session:
                row = session.scalar(select(User).where(User.email_index == digest))
        account_active = True
        if row is not None:
            with self._sessions() as session:
                status = session.scalar(select(Account.status).where(Account.id == row.account_id))
            # A suspended or terminated account's users are refused like suspended ones.
            account_active = status == "active"
        if row is None or row.password_hash is None:
            verify_against_dummy(password)
            return SignInCheck(
                user_id=row.id if row else None,
                account_id=row.account_id if row else None,
                role=Role(row.role) if row else None,
                suspended=row is not None and (row.suspended_at is not None or not account_active),
                password_ok=False,
                second_factor_enrolled=False,
            )
        return SignInCheck(
            user_id=row.id,
            account_id=row.account_id,
            role=Role(row.role),
            suspended=row.suspended_at is not None or not account_active,
            password_ok=verify_password(row.password_hash, password),
            second_factor_enrolled=row.totp_state == "enrolled",
        )

    def users_of(self, account_id: str, role: Role | None = None) -> list[str]:
        with self._sessions() as session:
            query = select(User.id).where(User.account_id == account_id)
            if role is not None:
                query = query.where(User.role == role.value)
            return list(session.scalars(query.order_by(User.created_at)))

    def user_account_and_role(self, user_id: str) -> tuple[str, Role]:
        with self._sessions() as session:
            row = session.get(User, user_id)
        if row is None:
            raise NotFoundError(f"no user {user_id}")
        return row.account_id, Role(row.role)

    # -- delegations --------------------------------------------------------------------
    def remove_delegation_in(self, session: Session, host_id: str, delegate_id: str) -> bool:
        """Withdraw one delegation inside the caller's transaction; whether there was one."""
        return bool(
            affected(
                session,
                delete(Delegation).where(
                    Delegation.host_id == host_id, Delegation.delegate_id == delegate_id
                ),
            )
        )

    def remove_delegations_in(self, session: Session, user_id: str) -> int:
        """Drop every delegation a user gives or holds, inside the caller's transaction (a
        removal); returns how many."""
        return affected(
            session,
            delete(Delegation).where(
                (Delegation.host_id == user_id) | (Delegation.delegate_id == user_id)
            ),
        )

    def delegate(self, actor: Actor, host_id: str, delegate_id: str) -> None:
        with self._sessions.begin() as session:
            host, dele = session.get(User, host_id), session.get(User, delegate_id)
            if host is None or dele is None:
                raise NotFoundError("no such host or delegate")
            if host.account_id != dele.account_id:
                raise AccessDeniedError("a delegate must belong to the host's account")
            authorise(actor, host.account_id)
            exists = session.scalar(
                select(Delegation.id).where(
                    Delegation.host_id == host_id, Delegation.delegate_id == delegate_id
                )
            )
            if exists:
                raise DuplicateError("already delegated")
            session.add(
                Delegation(
                    id=str(uuid.uuid4()),
                    host_id=host_id,
                    delegate_id=delegate_id,
                    created_at=self._clock(),
                )
            )
            self._audit.record(
                session,
                actor,
                "delegation.create",
                f"user:{host_id}->user:{delegate_id}",
                host.account_id,
            )

    def hosts_delegated_to(self, delegate_id: str) -> list[str]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(Delegation.host_id).where(Delegation.delegate_id == delegate_id)
                )
            )


def srtp_policy_of(account: Account) -> str:
    policy = (account.settings or {}).get(SRTP_SETTING)
    return policy if policy in SRTP_POLICIES else DEFAULT_SRTP_POLICY
