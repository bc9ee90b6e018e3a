"""Tables. Every personal-data column is ``*_enc`` (AES-GCM ciphertext under the account's
data key) and, where it is looked up, has a ``*_index`` blind index beside it. No column holds
a name, number or email in clear.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _id() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True)


class PlatformKey(Base):
    """Platform-wide keys (the blind-index key, the trunk-secrets key), wrapped by the
    master key."""

    __tablename__ = "platform_keys"
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = _id()
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    home_region: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # How many digits the account's new PINs have (store.conferences.PinLengths: guest 6 to
    # 12, host 8 to 12 and longer than the guest's). Existing PINs keep their length.
    guest_pin_length: Mapped[int] = mapped_column(Integer, default=8, server_default="8")
    host_pin_length: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # active | suspended | terminated (store.onboarding.TRANSITIONS); only an active
    # account's users sign in and its credentials open anything. ``terminated_at`` starts the
    # retention clock.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Blind index (kind ``account_name``) of the name, casefolded: no two accounts share a
    # name. NULL once shredded (nothing can be read to compare with).
    name_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True, unique=True)


class SetupLink(Base):
    """A one-time link for an account's first administrator to choose a password
    (``/setup/<token>``): only the token's SHA-256 is stored; used once, then dead."""

    __tablename__ = "setup_links"
    id: Mapped[str] = _id()
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AccountKey(Base):
    """An account's data key, wrapped. ``wrapped_key`` NULL means destroyed (shredded)."""

    __tablename__ = "account_keys"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    master_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = _id()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # administrator | host | delegate
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    email_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True, unique=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    phone_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Removed by an administrator: the personal fields are erased and the user is also
    # suspended; the row stays so that call history keeps pointing at "a removed user".
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The TOTP second factor: the secret encrypted under the account's data key; the state
    # is None (never enrolled), "pending" (secret shown, not yet confirmed) or "enrolled".
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    totp_enrolled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The last 30-second step a code was accepted for: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # A public profile address (https, privacy/profile_url.py), encrypted; shown beside the
    # user's name on the calls they join from a browser only while ``profile_consent_at`` is
    # set (when they consented; None: not shown, consent withdrawn or never given).
    profile_url_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    profile_consent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Delegation(Base):
    __tablename__ = "delegations"
    __table_args__ = (UniqueConstraint("host_id", "delegate_id"),)
    id: Mapped[str] = _id()
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    delegate_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DialInNumber(Base):
    """An access number people dial. A platform number, not personal data."""

    __tablename__ = "dial_in_numbers"
    id: Mapped[str] = _id()
    number: Mapped[str] = mapped_column(String(32), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(16))  # toll | toll_free | sip (no PSTN number)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    # The number plan (issue 13): where the number is served from and how it is shown.
    region: Mapped[str | None] = mapped_column(String(32), nullable=True)
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AccountDialIn(Base):
    """The numbers an account is limited to. An account with none uses every number."""

    __tablename__ = "account_dial_ins"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    dial_in_number_id: Mapped[str] = mapped_column(
        ForeignKey("dial_in_numbers.id"), primary_key=True
    )


class RetiredPin(Base):
    """The blind index (kind ``pin``) of a PIN taken out of use (a reset, a deleted
    conference) and when: no new PIN is one of them until the cooling-off period is over, so
    an old invitation never opens someone else's conference. Indexes only, no account."""

    __tablename__ = "retired_pins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pin_index: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    retired_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class Conference(Base):
    __tablename__ = "conferences"
    id: Mapped[str] = _id()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    title_enc: Mapped[bytes] = mapped_column(LargeBinary)
    pin_enc: Mapped[bytes] = mapped_column(LargeBinary)
    pin_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    pin_length: Mapped[int] = mapped_column(Integer)
    # The host's own PIN: joins as host (keypad controls, admitted when locked).
    host_pin_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    host_pin_index: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), nullable=True, unique=True
    )
    host_pin_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The room link (``/c/<link>``) opens Live Call Status and the browser join: a secret like
    # the PINs, so encrypted and found by its blind index (issue 12; migration 0010).
    web_link_enc: Mapped[bytes] = mapped_column(LargeBinary)
    web_link_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    lock_by_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Talk detection: 0 needs a voice 16 dB above the line noise, 1 only 4 dB.
    talk_sensitivity: Mapped[float] = mapped_column(Float, default=0.5, server_default="0.5")
    record_by_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PinPrefix(Base):
    """The blind index (kind ``pin``, as a PIN's) of each beginning, 6 digits or longer, of a
    conference's guest or host PIN: a new PIN is never one of them, so no PIN is the start of
    another and a keypad trying the digits so far after a pause never opens the wrong
    conference (issue 12). Indexes only, no digits."""

    __tablename__ = "pin_prefixes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conference_id: Mapped[str] = mapped_column(ForeignKey("conferences.id"), index=True)
    of_host_pin: Mapped[bool] = mapped_column(Boolean)
    prefix_index: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)


class ConferenceDialIn(Base):
    __tablename__ = "conference_dial_ins"
    conference_id: Mapped[str] = mapped_column(ForeignKey("conferences.id"), primary_key=True)
    dial_in_number_id: Mapped[str] = mapped_column(
        ForeignKey("dial_in_numbers.id"), primary_key=True
    )


class Leg(Base):
    """One participant's connection to one conference (service data, 12 months)."""

    __tablename__ = "legs"
    id: Mapped[str] = _id()
    conference_id: Mapped[str] = mapped_column(ForeignKey("conferences.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    joined_via: Mapped[str] = mapped_column(String(16))  # dial_in | dial_out | web
    status: Mapped[str] = mapped_column(String(16))  # joining | connected | on_hold | left
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    name_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    number_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    number_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True, index=True)
    number_withheld: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    left_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Why the leg ended when not by the call itself: ``service_restart`` when the service
    # died with it up and closed it on its next start (store/restart.py); else None.
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Contact(Base):
    """An account's own contact list, used for name resolution on its conferences only."""

    __tablename__ = "contacts"
    id: Mapped[str] = _id()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    phone_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    email_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


Index("ix_contacts_account_phone", Contact.account_id, Contact.phone_index)


class ApiToken(Base):
    """A bearer token: only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = _id()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    scopes: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OperatorToken(Base):
    """A bearer token of the platform's operator (``cro_…``), for the operator API. Belongs
    to no account; only its SHA-256 is stored, so a leaked database opens nothing."""

    __tablename__ = "operator_tokens"
    id: Mapped[str] = _id()
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OperatorSession(Base):
    """An operator's browser at ``/operator``, opened by pasting an operator token once.
    ``id`` is the SHA-256 of the session token its cookie carries (never stored); the
    session dies with its operator token's revocation."""

    __tablename__ = "operator_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_token_id: Mapped[str] = mapped_column(ForeignKey("operator_tokens.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # the absolute cap
    source: Mapped[str] = mapped_column(String(64))


class SignInSession(Base):
    """A signed-in browser. ``id`` is the SHA-256 of the session token the cookie carries;
    the token itself is never stored, so a leaked database opens no session."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # the absolute cap
    stay_signed_in: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    second_factor_done: Mapped[bool] = mapped_column(Boolean)


class RecoveryCode(Base):
    """A second-factor recovery code: only its SHA-256 (the codes carry 80 random bits), each
    usable once."""

    __tablename__ = "recovery_codes"
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SignInFailure(Base):
    """One failed sign-in (or second-factor) attempt, for lock-out. ``key`` is a blind index
    of what was tried against (an email, a source address, a user's second factor), never
    the value itself; rows older than an hour are purged."""

    __tablename__ = "sign_in_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class Trunk(Base):
    """A SIP trunk calls leave through. The operator's, not an account's: its password is
    encrypted under the platform's trunk-secrets key (``store.keys``), never stored in clear.
    """

    __tablename__ = "trunks"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8))  # udp | tcp
    username: Mapped[str | None] = mapped_column(String(128), nullable=True)
    password_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    caller_id: Mapped[str | None] = mapped_column(String(16), nullable=True)  # E.164
    # E.164 prefixes ("+44", "+1"); an empty list serves every number.
    prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CallRecord(Base):
    """A call detail record: one per outbound attempt, answered or not (kept 6 months).

    No foreign key to ``legs``: legs are written by the bridge's store writer on their own
    schedule and kept for another period.
    """

    __tablename__ = "call_records"
    id: Mapped[str] = _id()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    conference_id: Mapped[str | None] = mapped_column(
        ForeignKey("conferences.id"), nullable=True, index=True
    )
    leg_id: Mapped[str] = mapped_column(String(36))
    direction: Mapped[str] = mapped_column(String(16))  # outbound
    number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    number_index: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    trunk_id: Mapped[str | None] = mapped_column(ForeignKey("trunks.id"), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(36))  # a user id, or "guest"
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # None while the call is in progress; then answered | busy | no_answer | declined |
    # failed | cancelled.
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sip_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_s: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ServiceHeartbeat(Base):
    """The last moment the service was known alive, written every few seconds
    (store/restart.py): what a crash left open is closed at this time on the next start."""

    __tablename__ = "service_heartbeats"
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    beat_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class OpenLeg(Base):
    """A leg (or a call the bridge dialled) in progress on a node, so that the node's next
    start can close it, and send it a BYE, should the node die with it up (store/restart.py);
    the row goes once the call has ended and its records are closed. ``dialog_enc``: a
    phone's dialog (sip/snapshot.py: Call-ID, tags, both parties' URIs, the remote target,
    routes, where to send), which identifies the caller, so encrypted under the account's
    data key; None for a browser, or a call not yet answered."""

    __tablename__ = "open_legs"
    leg_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    dialog_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CrmWebhook(Base):
    """Where an account's click-to-call logs go. The URL (which may embed the CRM's token)
    and the signing secret are both encrypted under the account's data key."""

    __tablename__ = "crm_webhooks"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    url_enc: Mapped[bytes] = mapped_column(LargeBinary)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Append-only, hash-chained: ``entry_hash = sha256(prev_hash || canonical entry)``.

    Holds ids and actions, never personal data in clear.
    """

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    account_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class InvitationEmail(Base):
    """One invitation email in the outbox: to one address, for one conference, queued by a
    host (or their delegate, or an administrator) and sent, retried or given up on by the
    sender task (issue 13). The address is encrypted under the account's data key and never
    looked up (no index); the message itself is made when it is sent, from the conference as
    it is then. Rows are deleted 30 days after they were queued."""

    __tablename__ = "invitation_emails"
    id: Mapped[str] = _id()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    conference_id: Mapped[str] = mapped_column(ForeignKey("conferences.id"), index=True)
    # The conference's host when queued: the daily cap is the host's, whoever sends.
    host_id: Mapped[str] = mapped_column(String(36), index=True)
    requested_by: Mapped[str] = mapped_column(String(80))  # the actor's label
    batch_id: Mapped[str] = mapped_column(String(36))  # one sending of a list
    recipient_enc: Mapped[bytes] = mapped_column(LargeBinary)
    event_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    event_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # queued | retrying | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the sender may take it next (None once sent or given up on).
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(
        UtcDateTime, nullable=True, index=True
    )
    # Why the last attempt failed, in our words with the server's reply code (never its
    # text, which may repeat the address).
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ErasureEntry(Base):
    """An erasure of one person (issue 15), journalled so that it stays done: the blind index
    of the email or number erased (the keyed HMAC the rows themselves carry, never the value)
    and when. ``callroster privacy replay-erasures`` (and ``serve``, before it serves) erases
    again, in a restored backup, what these found before ``erased_at``."""

    __tablename__ = "erasures"
    __table_args__ = (UniqueConstraint("kind", "digest"),)
    id: Mapped[str] = _id()
    kind: Mapped[str] = mapped_column(String(8))  # email | phone | friend (store/erasure.py)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    erased_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LegalHold(Base):
    """A legal hold (issue 15): the data of a conference, a host's conferences or a whole
    account is neither hidden nor purged by retention while the hold stands. ``account_id``
    is the account the target belongs to (found when the hold is placed); ``reason`` is the
    operator's reference (a case number), not a place for names."""

    __tablename__ = "legal_holds"
    __table_args__ = (UniqueConstraint("kind", "target_id"),)
    id: Mapped[str] = _id()
    kind: Mapped[str] = mapped_column(String(16))  # conference | host | account
    target_id: Mapped[str] = mapped_column(String(36))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


Index("ix_call_records_account_ended", CallRecord.account_id, CallRecord.ended_at)
Index("ix_legs_account_joined", Leg.account_id, Leg.joined_at)


class PrivacyRequest(Base):
    """A data-subject request made at ``/privacy/request`` (issue 15): access, rectification,
    erasure or marketing opt-out, by an email or a phone number.

    One row for every request made, whether or not anyone is found (so the answer is the
    same). The requester's link and the one-time code are kept only as hashes (the code's
    keyed, ``privacy_code`` blind index); the address and any correction are encrypted under
    the platform's ``privacy_requests`` key and cleared once the request no longer needs them.
    """

    __tablename__ = "privacy_requests"
    id: Mapped[str] = _id()
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    kind: Mapped[str] = mapped_column(String(24))  # access | rectification | erasure | ...
    channel: Mapped[str] = mapped_column(String(8))  # email | phone
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    address_index: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    correction_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    code_expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # unverified | verified (awaiting an operator) | completed | refused
    status: Mapped[str] = mapped_column(String(16), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    refusal_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(200), nullable=True)  # counts only
    export_token_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), nullable=True, unique=True
    )
    export_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class MarketingSuppression(Base):
    """Someone who opted out of marketing: only a keyed hash of their address (blind index
    kind ``marketing``), never the address; checked before any marketing is sent."""

    __tablename__ = "marketing_suppressions"
    address_index: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ConsentRecord(Base):
    """A consent given to the cookie policy (issue 16): the proof of what a browser accepted.

    Its id is random and sits in the browser's compliance cookie. Categories, policy version,
    hash of the text shown, method and times are in clear; the truncated network address and
    the user agent are personal data, encrypted under the platform's ``consent_records`` key.
    ``source_index`` is the keyed hash of the truncated address (blind index kind
    ``consent_source``): the per-source rate limit counts by it. ``ended_at``: when a later
    consent of the same browser replaced this one.
    """

    __tablename__ = "consent_records"
    id: Mapped[str] = _id()
    categories: Mapped[str] = mapped_column(String(64))  # accepted optional ones, sorted, ","
    policy_version: Mapped[str] = mapped_column(String(40), index=True)
    text_sha256: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))  # banner | settings | gpc | dnt
    given_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    replaces: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ip_enc: Mapped[bytes] = mapped_column(LargeBinary)
    user_agent_enc: Mapped[bytes] = mapped_column(LargeBinary)
    source_index: Mapped[bytes] = mapped_column(LargeBinary(32))


Index("ix_consent_records_source_given", ConsentRecord.source_index, ConsentRecord.given_at)


class FriendInvitation(Base):
    """A Tell a Friend invitation (issue 16): a host (or delegate, or administrator) invites
    one address to try the service. One per address, ever: ``address_index`` is the keyed
    hash of the normalised address under the blind index kind ``marketing``, the one the
    suppression list (``marketing_suppressions``) is kept under, so an unsubscribe moves it
    there as it is. The address and the message are encrypted under the account's data key
    and cleared once the email is sent or given up on, as is the unsubscribe link's token
    (kept encrypted only to put it into the email): after that only its SHA-256 stays.
    Unsubscribing deletes the row. ``sender_id`` is cleared after 30 days (the per-sender
    daily limit needs it for one)."""

    __tablename__ = "friend_invitations"
    id: Mapped[str] = _id()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    sender_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    address_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    message_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    token_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # until sent
    standard_wording: Mapped[bool] = mapped_column(Boolean)
    unsubscribe_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | retrying | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(
        UtcDateTime, nullable=True, index=True
    )
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
