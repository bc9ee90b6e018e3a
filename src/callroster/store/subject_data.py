"""Everything the store holds about one person, found by email and by phone number through
the blind index, across every account (issue 15: access requests, and the address a
request's one-time code is sent to).

Each row is decrypted with its own account's data key; an account whose key was destroyed
(shredded) contributes nothing. Nothing here is written; the caller audit-logs the reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from callroster.errors import DataKeyDestroyedError, NotFoundError
from callroster.privacy.keys import DecryptionError, FieldCipher
from callroster.store import suppressions
from callroster.store.models import (
    CallRecord,
    Conference,
    Contact,
    Delegation,
    FriendInvitation,
    InvitationEmail,
    Leg,
    MarketingSuppression,
    SignInSession,
    User,
)
from callroster.store.public_profiles import CONTEXT as PROFILE_CONTEXT
from callroster.store.repository import (
    CALL_NUMBER,
    CONTACT_EMAIL,
    CONTACT_PHONE,
    LEG_NUMBER,
    USER_EMAIL,
    USER_PHONE,
    Repository,
)
from callroster.store.retention import RetentionRules, Scope, call_record_kept, leg_kept

Row = dict[str, Any]


@dataclass(frozen=True)
class Person:
    """Who to look for: an email (lower-cased) and/or a number (E.164)."""

    email: str | None = None
    number: str | None = None


class _Ciphers:
    """Each account's cipher, once; None for an account whose key was destroyed."""

    def __init__(self, repository: SubjectDataRepository) -> None:
        self._repository = repository
        self._known: dict[str, FieldCipher | None] = {}

    def of(self, account_id: str) -> FieldCipher | None:
        if account_id not in self._known:
            self._known[account_id] = self._repository.cipher_or_none(account_id)
        return self._known[account_id]


class SubjectDataRepository(Repository):
    # What is past its retention time is not in an export either: the same conditions the
    # other read paths hide by (store/retention.py). The request repository sets the
    # configured policy.
    retention = RetentionRules()

    def cipher_or_none(self, account_id: str) -> FieldCipher | None:
        try:
            return self._keys.cipher(account_id)
        except (DataKeyDestroyedError, NotFoundError):
            return None

    def _indexes(self, person: Person) -> tuple[bytes | None, bytes | None]:
        email = self._index_of(USER_EMAIL, person.email) if person.email else None
        phone = self._index_of(USER_PHONE, person.number) if person.number else None
        return email, phone

    def address_on_record(self, person: Person) -> str | None:
        """The address as the store holds it (decrypted from the first live row that has
        it), where a one-time code may be sent; None when nobody holds it."""
        email_index, phone_index = self._indexes(person)
        ciphers = _Ciphers(self)
        with self._sessions() as session:
            candidates: list[tuple[str, str, bytes | None]] = []
            if email_index is not None:
                for u in session.scalars(select(User).where(User.email_index == email_index)):
                    candidates.append((u.account_id, USER_EMAIL.context, u.email_enc))
                for c in session.scalars(select(Contact).where(Contact.email_index == email_index)):
                    candidates.append((c.account_id, CONTACT_EMAIL.context, c.email_enc))
            if phone_index is not None:
                for u in session.scalars(select(User).where(User.phone_index == phone_index)):
                    candidates.append((u.account_id, USER_PHONE.context, u.phone_enc))
                for c in session.scalars(select(Contact).where(Contact.phone_index == phone_index)):
                    candidates.append((c.account_id, CONTACT_PHONE.context, c.phone_enc))
                for leg in session.scalars(
                    select(Leg).where(Leg.number_index == phone_index).limit(20)
                ):
                    candidates.append((leg.account_id, LEG_NUMBER.context, leg.number_enc))
                for r in session.scalars(
                    select(CallRecord).where(CallRecord.number_index == phone_index).limit(20)
                ):
                    candidates.append((r.account_id, CALL_NUMBER.context, r.number_enc))
        for account_id, context, blob in candidates:
            cipher = ciphers.of(account_id)
            if cipher is None or blob is None:
                continue
            try:
                return cipher.decrypt(context, blob)
            except DecryptionError:
                continue
        return None

    def collect(self, person: Person) -> dict[str, list[Row]]:
        """Every row about ``person``, decrypted, by table (see ``privacy.subject_export``)."""
        email_index, phone_index = self._indexes(person)
        ciphers = _Ciphers(self)
        with self._sessions() as session:
            users = self._users(session, ciphers, email_index, phone_index)
            user_ids = [row["id"] for row in users]
            return {
                "users": users,
                "delegations": self._delegations(session, user_ids),
                "conferences": self._conferences(session, ciphers, user_ids),
                "sign_in_sessions": self._sessions_of(session, ciphers, user_ids),
                "contacts": self._contacts(session, ciphers, email_index, phone_index),
                "call_legs": self._legs(session, ciphers, phone_index, self._kept_scopes()),
                "call_records": self._call_records(
                    session, ciphers, phone_index, self._kept_scopes()
                ),
                "invitations": self._invitations(session, ciphers, person.email),
                "friend_invitations": self._friend_invitations(session, person.email),
                "suppression_list": self._suppression(session, person),
            }

    def _users(
        self,
        session: Session,
        ciphers: _Ciphers,
        email_index: bytes | None,
        phone_index: bytes | None,
    ) -> list[Row]:
        found = _where_any([(User.email_index, email_index), (User.phone_index, phone_index)])
        if found is None:
            return []
        rows: list[Row] = []
        for user in session.scalars(select(User).where(found).order_by(User.created_at)):
            cipher = ciphers.of(user.account_id)
            if cipher is None:
                continue
            rows.append(
                {
                    "id": user.id,
                    "account_id": user.account_id,
                    "role": user.role,
                    "name": cipher.decrypt("users.name", user.name_enc),
                    "email": USER_EMAIL.open_optional(cipher, user.email_enc),
                    "phone": USER_PHONE.open_optional(cipher, user.phone_enc),
                    "public_profile": cipher.decrypt_optional(
                        PROFILE_CONTEXT, user.profile_url_enc
                    ),
                    "public_profile_consent_at": user.profile_consent_at,
                    "second_factor": user.totp_state,
                    "created_at": user.created_at,
                    "suspended_at": user.suspended_at,
                    "removed_at": user.removed_at,
                }
            )
        return rows

    @staticmethod
    def _delegations(session: Session, user_ids: list[str]) -> list[Row]:
        if not user_ids:
            return []
        query = select(Delegation).where(
            or_(Delegation.host_id.in_(user_ids), Delegation.delegate_id.in_(user_ids))
        )
        return [
            {
                "id": d.id,
                "host_id": d.host_id,
                "delegate_id": d.delegate_id,
                "created_at": d.created_at,
            }
            for d in session.scalars(query.order_by(Delegation.created_at))
        ]

    @staticmethod
    def _conferences(session: Session, ciphers: _Ciphers, user_ids: list[str]) -> list[Row]:
        if not user_ids:
            return []
        rows: list[Row] = []
        query = select(Conference).where(Conference.host_id.in_(user_ids))
        for conference in session.scalars(query.order_by(Conference.created_at)):
            cipher = ciphers.of(conference.account_id)
            if cipher is None:
                continue
            rows.append(
                {
                    "id": conference.id,
                    "account_id": conference.account_id,
                    "host_id": conference.host_id,
                    "title": cipher.decrypt("conferences.title", conference.title_enc),
                    "created_at": conference.created_at,
                }
            )
        return rows

    @staticmethod
    def _sessions_of(session: Session, ciphers: _Ciphers, user_ids: list[str]) -> list[Row]:
        if not user_ids:
            return []
        query = select(SignInSession).where(SignInSession.user_id.in_(user_ids))
        return [
            {
                "user_id": s.user_id,
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "source": s.source,
            }
            for s in session.scalars(query.order_by(SignInSession.created_at))
            if ciphers.of(s.account_id) is not None
        ]

    @staticmethod
    def _contacts(
        session: Session,
        ciphers: _Ciphers,
        email_index: bytes | None,
        phone_index: bytes | None,
    ) -> list[Row]:
        found = _where_any([(Contact.email_index, email_index), (Contact.phone_index, phone_index)])
        if found is None:
            return []
        rows: list[Row] = []
        for contact in session.scalars(select(Contact).where(found).order_by(Contact.created_at)):
            cipher = ciphers.of(contact.account_id)
            if cipher is None:
                continue
            rows.append(
                {
                    "id": contact.id,
                    "account_id": contact.account_id,
                    "name": cipher.decrypt("contacts.name", contact.name_enc),
                    "phone": CONTACT_PHONE.open_optional(cipher, contact.phone_enc),
                    "email": CONTACT_EMAIL.open_optional(cipher, contact.email_enc),
                    "created_at": contact.created_at,
                }
            )
        return rows

    def _kept_scopes(self) -> Callable[[Session, str], Scope]:
        """Each account's retention scope, worked out once per export."""
        now, known = self._clock(), dict[str, Scope]()

        def scope(session: Session, account_id: str) -> Scope:
            if account_id not in known:
                known[account_id] = self.retention.scope(session, account_id, now)
            return known[account_id]

        return scope

    @staticmethod
    def _legs(
        session: Session,
        ciphers: _Ciphers,
        phone_index: bytes | None,
        scope_of: Callable[[Session, str], Scope],
    ) -> list[Row]:
        if phone_index is None:
            return []
        rows: list[Row] = []
        accounts = session.scalars(
            select(Leg.account_id).where(Leg.number_index == phone_index).distinct()
        ).all()
        kept = or_(
            false(),
            *(and_(Leg.account_id == a, leg_kept(scope_of(session, a))) for a in accounts),
        )
        query = select(Leg).where(Leg.number_index == phone_index, kept).order_by(Leg.joined_at)
        for leg in session.scalars(query):
            cipher = ciphers.of(leg.account_id)
            if cipher is None:
                continue
            rows.append(
                {
                    "id": leg.id,
                    "conference_id": leg.conference_id,
                    "account_id": leg.account_id,
                    "joined_via": leg.joined_via,
                    "name": cipher.decrypt_optional("legs.name", leg.name_enc),
                    "name_source": leg.name_source,
                    "number": LEG_NUMBER.open_optional(cipher, leg.number_enc),
                    "joined_at": leg.joined_at,
                    "left_at": leg.left_at,
                }
            )
        return rows

    @staticmethod
    def _call_records(
        session: Session,
        ciphers: _Ciphers,
        phone_index: bytes | None,
        scope_of: Callable[[Session, str], Scope],
    ) -> list[Row]:
        if phone_index is None:
            return []
        rows: list[Row] = []
        accounts = session.scalars(
            select(CallRecord.account_id).where(CallRecord.number_index == phone_index).distinct()
        ).all()
        kept = or_(
            false(),
            *(
                and_(CallRecord.account_id == a, call_record_kept(scope_of(session, a)))
                for a in accounts
            ),
        )
        query = (
            select(CallRecord)
            .where(CallRecord.number_index == phone_index, kept)
            .order_by(CallRecord.started_at)
        )
        for record in session.scalars(query):
            cipher = ciphers.of(record.account_id)
            if cipher is None:
                continue
            rows.append(
                {
                    "id": record.id,
                    "account_id": record.account_id,
                    "conference_id": record.conference_id,
                    "direction": record.direction,
                    "number": CALL_NUMBER.open(cipher, record.number_enc),
                    "started_at": record.started_at,
                    "answered_at": record.answered_at,
                    "ended_at": record.ended_at,
                    "outcome": record.outcome,
                    "duration_s": record.duration_s,
                }
            )
        return rows

    @staticmethod
    def _invitations(session: Session, ciphers: _Ciphers, email: str | None) -> list[Row]:
        """Invitation emails to the address. Their recipients are not indexed (never looked
        up otherwise, and deleted after 30 days), so each is decrypted and compared."""
        if email is None:
            return []
        rows: list[Row] = []
        for invitation in session.scalars(
            select(InvitationEmail).order_by(InvitationEmail.created_at)
        ):
            cipher = ciphers.of(invitation.account_id)
            if cipher is None:
                continue
            try:
                recipient = cipher.decrypt("invitation_emails.recipient", invitation.recipient_enc)
            except DecryptionError:
                continue
            if recipient.strip().lower() != email:
                continue
            rows.append(
                {
                    "id": invitation.id,
                    "account_id": invitation.account_id,
                    "conference_id": invitation.conference_id,
                    "recipient": recipient,
                    "status": invitation.status,
                    "created_at": invitation.created_at,
                    "sent_at": invitation.sent_at,
                }
            )
        return rows

    def _friend_invitations(self, session: Session, email: str | None) -> list[Row]:
        """The Tell a Friend invitation to the address (one at most): found by the keyed
        hash it is kept under; who sent it, while that is kept (``SENDER_KEPT``)."""
        if email is None:
            return []
        digest = suppressions.suppression_index(self._keys.blind_index(), email)
        rows: list[Row] = []
        for invitation in session.scalars(
            select(FriendInvitation).where(FriendInvitation.address_index == digest)
        ):
            rows.append(
                {
                    "id": invitation.id,
                    "account_id": invitation.account_id,
                    "sent_by_user_id": invitation.sender_id,
                    "standard_wording": invitation.standard_wording,
                    "status": invitation.status,
                    "created_at": invitation.created_at,
                    "sent_at": invitation.sent_at,
                }
            )
        return rows

    def _suppression(self, session: Session, person: Person) -> list[Row]:
        """Whether the address is on the suppression list (only its keyed hash is), and
        since when."""
        rows: list[Row] = []
        for address in (person.email, person.number):
            if address is None:
                continue
            digest = suppressions.suppression_index(self._keys.blind_index(), address)
            entry = session.get(MarketingSuppression, digest)
            if entry is not None:
                rows.append({"address": address, "since": entry.created_at})
        return rows


def _where_any(pairs: Iterable[tuple[Any, bytes | None]]) -> Any:
    clauses = [column == value for column, value in pairs if value is not None]
    if not clauses:
        return None
    return or_(*clauses)
