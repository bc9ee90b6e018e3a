"""Data-subject requests in the store (issue 15): made at ``/privacy/request``, verified by a
one-time code, decided by an operator at ``/operator/requests`` or the operator API.

**The same answer whether or not anyone is found.** ``open`` writes a request row, with the
keyed hash of a fresh code, for every request made; only when the address is on record does
it hand back a ``CodeDelivery`` (to the address as the store holds it, never one the
requester typed in addition). A request about nobody can never be verified (its code was
never sent), and looks, to its maker, like any other.

**The code.** ``CODE_DIGITS`` random digits, kept only as a keyed hash (the platform's blind
index key, kind ``privacy_code``, bound to the request's id), compared in constant time,
``CODE_ATTEMPTS`` tries, ``CODE_LIFETIME``. The requester's link (``/privacy/request/<t>``)
and an access request's download link are random tokens kept as SHA-256.

**Personal data.** The address (and a correction) are encrypted under the platform's
``privacy_requests`` key and cleared once the request is finished with them; the blind
index of the address stays (rate limits, the queue's duplicate check). Audit entries name
the request (``privacy_request:<id>``), never the address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callroster.accounts.actor import Actor, Role
from callroster.errors import AccessDeniedError, NotFoundError
from callroster.privacy import normalise
from callroster.privacy.keys import FieldCipher
from callroster.privacy.subject_requests import (
    CODE_ATTEMPTS,
    CODE_DIGITS,
    CODE_LIFETIME,
    DECIDED_BY_OPERATOR,
    EXPORT_LIFETIME,
    UNVERIFIED_KEPT,
    Channel,
    RequestKind,
    RequestStatus,
    Verification,
    code_matches,
    due_at,
    overdue,
    well_formed_code,
)
from callroster.store import suppressions
from callroster.store.models import Contact, PrivacyRequest, User
from callroster.store.repository import CONTACT_EMAIL, CONTACT_PHONE, USER_EMAIL, Repository
from callroster.store.retention import RetentionRules
from callroster.store.subject_data import Person, SubjectDataRepository

PURPOSE = "privacy_requests"  # the platform key the addresses are encrypted under
ADDRESS = "privacy_requests.address"
CORRECTION = "privacy_requests.correction"
REFUSAL = "privacy_requests.refusal"
TOKEN_PREFIX = "crpr_"
EXPORT_PREFIX = "crpx_"
DEFAULT_DAYS = 30


def _sha(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def requester(request_id: str, source: str, reason: str) -> Actor:
    """The person behind a request, as the audit log names them: by the request, not by
    anything they typed."""
    return Actor(f"privacy_request:{request_id}", Role.GUEST, None, source, reason)


@dataclass(frozen=True)
class Address:
    """What a request is about, normalised: the channel and the address (email lower-cased,
    number in E.164)."""

    channel: Channel
    value: str

    @classmethod
    def of(cls, *, email: str = "", phone: str = "", region: str = "GB") -> Address:
        """Raises ``normalise.InvalidValueError`` (a ValueError) when it is not one."""
        if email.strip() and phone.strip():
            raise normalise.InvalidValueError("give an email address or a phone number, not both")
        if email.strip():
            return cls(Channel.EMAIL, normalise.email(email))
        if phone.strip():
            return cls(Channel.PHONE, normalise.phone_e164(phone, region))
        raise normalise.InvalidValueError("give an email address or a phone number")

    @property
    def person(self) -> Person:
        if self.channel is Channel.EMAIL:
            return Person(email=self.value)
        return Person(number=self.value)


@dataclass(frozen=True)
class CodeDelivery:
    """A code to send, to an address on record. Never logged."""

    channel: Channel
    address: str
    code: str

    def __repr__(self) -> str:
        return f"CodeDelivery(channel={self.channel.value!r}, address=***, code=***)"


@dataclass(frozen=True)
class Opened:
    request_id: str
    token: str  # the requester's link; shown once
    delivery: CodeDelivery | None  # None: nobody found, nothing to send


@dataclass(frozen=True)
class RequestView:
    """A request as the operator's queue shows it: no address, no correction."""

    id: str
    kind: RequestKind
    channel: Channel
    status: RequestStatus
    received_at: dt.datetime
    due_at: dt.datetime
    overdue: bool
    verified_at: dt.datetime | None
    decided_at: dt.datetime | None
    decided_by: str | None
    refusal: str | None
    outcome: str | None


@dataclass(frozen=True)
class Decided:
    """An approved request's target, for the step that carries it out (erasure); None when
    the address was already erased (by another request of the same person): nothing to do,
    and the request is completed so."""

    request_id: str
    kind: RequestKind
    address: Address | None


class PrivacyRequestRepository(Repository):
    """Opens, verifies, lists and decides data-subject requests. ``days``: the statutory
    deadline (``Settings.privacy_request_days``)."""

    days: int = DEFAULT_DAYS
    retention = RetentionRules()  # open_store sets the configured policy

    @property
    def subject_data(self) -> SubjectDataRepository:
        repository = SubjectDataRepository(self._sessions, self._keys, self._audit, self._clock)
        repository.retention = self.retention
        return repository

    def _cipher(self) -> FieldCipher:
        return self._keys.platform_cipher(PURPOSE)

    def address_index(self, address: Address) -> bytes:
        """The keyed hash of an address (rate limits key on it, never on the address)."""
        return self._keys.blind_index().of(f"privacy_{address.channel.value}", address.value)

    def _code_hash(self, request_id: str, code: str) -> bytes:
        return self._keys.blind_index().of("privacy_code", f"{request_id}:{code}")

    # -- the requester --------------------------------------------------------------------
    def open(
        self,
        kind: RequestKind,
        address: Address,
        *,
        source: str,
        reason: str,
        correction: str | None = None,
    ) -> Opened:
        """Record a request and make its code; the delivery is None when the address is
        not on record (then nothing must be sent, and nothing else differs)."""
        if kind is RequestKind.RECTIFICATION:
            if not correction:
                raise normalise.InvalidValueError("type the name we should hold for you")
            correction = normalise.person_name(correction)
        now = self._clock()
        request_id = str(uuid.uuid4())
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        on_record = self.subject_data.address_on_record(address.person)
        cipher = self._cipher()
        with self._sessions.begin() as session:
            session.execute(
                delete(PrivacyRequest).where(
                    PrivacyRequest.status == RequestStatus.UNVERIFIED.value,
                    PrivacyRequest.received_at < now - UNVERIFIED_KEPT,
                )
            )
            session.add(
                PrivacyRequest(
                    id=request_id,
                    token_hash=_sha(token),
                    kind=kind.value,
                    channel=address.channel.value,
                    address_enc=cipher.encrypt(ADDRESS, address.value),
                    address_index=self.address_index(address),
                    correction_enc=cipher.encrypt_optional(CORRECTION, correction),
                    code_hash=self._code_hash(request_id, code),
                    code_expires_at=now + CODE_LIFETIME,
                    attempts=0,
                    status=RequestStatus.UNVERIFIED.value,
                    received_at=now,
                    due_at=due_at(now, self.days),
                )
            )
            self._audit.record(
                session,
                requester(request_id, source, reason),
                "privacy_request.open",
                f"privacy_request:{request_id}",
                None,
            )
        delivery = CodeDelivery(address.channel, on_record, code) if on_record else None
        return Opened(request_id, token, delivery)

    def kind_of(self, token: str) -> RequestKind | None:
        """The kind of the request behind a requester's link (None: no such link)."""
        with self._sessions() as session:
            row = session.scalar(
                select(PrivacyRequest).where(PrivacyRequest.token_hash == _sha(token))
            )
            return RequestKind(row.kind) if row is not None else None

    def verify(self, token: str, typed: str, *, source: str, reason: str) -> Verification:
        """Check a code for the request behind ``token``; when right, carry out what needs
        no operator (access: a download link; opt-out: the suppression).

        Raises:
            NotFoundError: no request has that link.
        """
        now = self._clock()
        export_token: str | None = None
        with self._sessions.begin() as session:
            row = session.scalar(
                select(PrivacyRequest)
                .where(PrivacyRequest.token_hash == _sha(token))
                .with_for_update()
            )
            if row is None:
                raise NotFoundError("no such request")
            kind = RequestKind(row.kind)
            actor = requester(row.id, source, reason)
            subject = f"privacy_request:{row.id}"
            if row.status != RequestStatus.UNVERIFIED.value:
                return Verification("done", kind, due_at=row.due_at)
            if now >= row.code_expires_at:
                return Verification("expired", kind)
            if row.attempts >= CODE_ATTEMPTS:
                return Verification("exhausted", kind)
            code = well_formed_code(typed)
            offered = self._code_hash(row.id, code or "-")
            if not code_matches(row.code_hash, offered):
                row.attempts += 1
                self._audit.record(session, actor, "privacy_request.code_wrong", subject, None)
                left = CODE_ATTEMPTS - row.attempts
                return Verification("wrong" if left else "exhausted", kind, tries_left=left)
            row.code_hash = None
            row.verified_at = now
            row.status = RequestStatus.VERIFIED.value
            self._audit.record(session, actor, "privacy_request.verified", subject, None)
            if kind is RequestKind.ACCESS:
                export_token = EXPORT_PREFIX + secrets.token_urlsafe(32)
                row.export_token_hash = _sha(export_token)
                row.export_expires_at = now + EXPORT_LIFETIME
                self._complete(session, row, actor, "download link made")
            elif kind is RequestKind.MARKETING_OPT_OUT:
                self._suppress(session, row)
                row.address_enc = None
                self._complete(session, row, actor, "suppressed for marketing")
            return Verification("verified", kind, export_token=export_token, due_at=row.due_at)

    def _suppress(self, session: Session, row: PrivacyRequest) -> None:
        assert row.address_enc is not None
        value = self._cipher().decrypt(ADDRESS, row.address_enc)
        suppressions.suppress(session, self.suppression_index(value), self._clock())

    def suppression_index(self, normalised: str) -> bytes:
        """The keyed hash a marketing opt-out is kept as (``store/suppressions.py``)."""
        return suppressions.suppression_index(self._keys.blind_index(), normalised)

    def suppressed(self, email_or_number: str) -> bool:
        """Whether an address (normalised) opted out of marketing or unsubscribed from Tell
        a Friend: the check marketing email makes before it is sent (one list, one check:
        ``store/suppressions.py``)."""
        with self._sessions() as session:
            return suppressions.is_suppressed(session, self.suppression_index(email_or_number))

    def _complete(self, session: Session, row: PrivacyRequest, actor: Actor, outcome: str) -> None:
        row.status = RequestStatus.COMPLETED.value
        row.decided_at = self._clock()
        row.outcome = outcome[:200]
        self._audit.record(
            session, actor, "privacy_request.completed", f"privacy_request:{row.id}", None
        )

    def export(self, token: str, *, source: str, reason: str) -> dict[str, list[dict[str, object]]]:
        """The rows of the access request behind a download link, read now, audit-logged.

        Raises:
            NotFoundError: no such link, or it has expired (then it is cleared for good).
        """
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.scalar(
                select(PrivacyRequest).where(PrivacyRequest.export_token_hash == _sha(token))
            )
            if row is None or row.address_enc is None or row.export_expires_at is None:
                raise NotFoundError("no such download")
            if now >= row.export_expires_at:  # cleared for good, committed, then refused
                row.export_token_hash = None
                row.address_enc = None
                address = None
            else:
                address = Address(
                    Channel(row.channel), self._cipher().decrypt(ADDRESS, row.address_enc)
                )
                self._audit.record(
                    session,
                    requester(row.id, source, reason),
                    "privacy_request.export",
                    f"privacy_request:{row.id}",
                    None,
                )
        if address is None:
            raise NotFoundError("this download has expired")
        return self.subject_data.collect(address.person)

    # -- the operator ---------------------------------------------------------------------
    def list(self, actor: Actor, *, include_unverified: bool = False) -> list[RequestView]:
        """Requests whose maker proved who they are (oldest deadline first), open ones
        flagged overdue once past their deadline."""
        _operator(actor)
        now = self._clock()
        cipher = self._cipher()
        with self._sessions.begin() as session:
            query = select(PrivacyRequest).order_by(PrivacyRequest.due_at)
            if not include_unverified:
                query = query.where(PrivacyRequest.status != RequestStatus.UNVERIFIED.value)
            views = [
                RequestView(
                    id=row.id,
                    kind=RequestKind(row.kind),
                    channel=Channel(row.channel),
                    status=RequestStatus(row.status),
                    received_at=row.received_at,
                    due_at=row.due_at,
                    overdue=overdue(RequestStatus(row.status), row.due_at, now),
                    verified_at=row.verified_at,
                    decided_at=row.decided_at,
                    decided_by=row.decided_by,
                    refusal=cipher.decrypt_optional(REFUSAL, row.refusal_enc),
                    outcome=row.outcome,
                )
                for row in session.scalars(query)
            ]
            self._audit.record(session, actor, "privacy_request.list", "privacy_requests", None)
        return views

    def refuse(self, actor: Actor, request_id: str, why: str) -> None:
        """Refuse an open request with a reason (kept encrypted; the audit entry says only
        that it was refused).

        Raises:
            NotFoundError, ValueError: no such open request; no reason given.
        """
        _operator(actor)
        why = " ".join(why.split())[:500]
        if not why:
            raise ValueError("say why the request is refused")
        with self._sessions.begin() as session:
            row = self._open_row(session, request_id)
            row.status = RequestStatus.REFUSED.value
            row.decided_at = self._clock()
            row.decided_by = actor.label[:80]
            row.refusal_enc = self._cipher().encrypt(REFUSAL, why)
            row.address_enc = row.correction_enc = None
            self._audit.record(
                session, actor, "privacy_request.refuse", f"privacy_request:{row.id}", None
            )

    def approve(self, actor: Actor, request_id: str) -> Decided:
        """Approve an open request: a rectification is applied here; an erasure's target is
        returned for ``store.privacy_decisions`` to erase, then ``finish``.

        Raises:
            NotFoundError: no such open request.
        """
        _operator(actor)
        with self._sessions.begin() as session:
            row = self._open_row(session, request_id)
            kind = RequestKind(row.kind)
            row.decided_by = actor.label[:80]
            self._audit.record(
                session, actor, "privacy_request.approve", f"privacy_request:{row.id}", None
            )
            if row.address_enc is None:  # the person was erased meanwhile
                row.correction_enc = None
                self._complete(session, row, actor, "nothing held any longer (erased)")
                return Decided(request_id, kind, None)
            cipher = self._cipher()
            address = Address(Channel(row.channel), cipher.decrypt(ADDRESS, row.address_enc))
            if kind is RequestKind.RECTIFICATION:
                assert row.correction_enc is not None
                name = cipher.decrypt(CORRECTION, row.correction_enc)
                changed = self._rectify(session, actor, address, name)
                row.address_enc = row.correction_enc = None
                self._complete(session, row, actor, f"name corrected in {changed} records")
        return Decided(request_id, kind, address)

    def finish(self, actor: Actor, request_id: str, outcome: str) -> None:
        """Record that an approved request (an erasure) was carried out; ``outcome`` holds
        counts only. The address is cleared."""
        _operator(actor)
        with self._sessions.begin() as session:
            row = session.get(PrivacyRequest, request_id)
            if row is None:
                raise NotFoundError("no such request")
            row.address_enc = row.correction_enc = None
            row.decided_by = actor.label[:80]
            self._complete(session, row, actor, outcome)

    def _open_row(self, session: Session, request_id: str) -> PrivacyRequest:
        row = session.get(PrivacyRequest, request_id[:36], with_for_update=True)
        if row is None or row.status != RequestStatus.VERIFIED.value:
            raise NotFoundError("there is no such request waiting for a decision")
        if RequestKind(row.kind) not in DECIDED_BY_OPERATOR:
            raise NotFoundError("there is no such request waiting for a decision")
        return row

    def _rectify(self, session: Session, actor: Actor, address: Address, name: str) -> int:
        """Write the corrected name on every user and contact found by the address, in
        each account whose key is alive; returns how many rows."""
        person = address.person
        changed = 0
        if person.email is not None:
            digest = self._index_of(USER_EMAIL, person.email)
            users = select(User).where(User.email_index == digest)
            contacts = select(Contact).where(
                Contact.email_index == self._index_of(CONTACT_EMAIL, person.email)
            )
        else:
            assert person.number is not None
            digest = self._index_of(CONTACT_PHONE, person.number)
            users = select(User).where(User.phone_index == digest)
            contacts = select(Contact).where(Contact.phone_index == digest)
        subject_data = self.subject_data
        for user in session.scalars(users):
            cipher = subject_data.cipher_or_none(user.account_id)
            if cipher is not None:
                user.name_enc = cipher.encrypt("users.name", name)
                self._audit.record(
                    session, actor, "privacy_request.rectify", f"user:{user.id}", user.account_id
                )
                changed += 1
        for contact in session.scalars(contacts):
            cipher = subject_data.cipher_or_none(contact.account_id)
            if cipher is not None:
                contact.name_enc = cipher.encrypt("contacts.name", name)
                self._audit.record(
                    session,
                    actor,
                    "privacy_request.rectify",
                    f"contact:{contact.id}",
                    contact.account_id,
                )
                changed += 1
        return changed


def _operator(actor: Actor) -> None:
    if actor.role is not Role.OPERATOR:
        raise AccessDeniedError("only the operator handles privacy requests")
