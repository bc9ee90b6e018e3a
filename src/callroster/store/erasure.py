"""Erasure of one person everywhere they are kept for no other reason, and its journal.

``erase_person(store, actor, *, email=None, number=None) -> ErasureReport``. The person is
found through the blind index (every spelling of a number normalises to one E.164 form, so
to one index), across accounts, and then by what those rows say about them (a user found by
email has a phone number too; the names of the rows found are looked for in the legs of the
same accounts). What is done, per table:

* ``users``: anonymised as a removal is ("Removed user"; email, phone, password and second
  factor gone), sessions ended, tokens revoked, set-up links spent, recovery codes and
  delegations deleted: their sign-in ends. The row stays so the account's history adds up.
* ``contacts``: deleted.
* ``legs`` (the roster's history, names and numbers on calls): name, number and their index
  cleared; the leg's times and how it joined stay (the conference's statistics).
* ``call_records``: the number is replaced by its country calling code only (``+44``) and
  its index by one no look-up finds; ``requested_by`` a user erased becomes ``erased``. Kept:
  account, conference, times, duration, outcome, trunk: what an invoice and a carrier
  dispute need (billing law: who is billed, when, how long, to which destination country),
  none of it the person's.
* ``invitation_emails`` (the outbox) to that address: deleted.
* ``open_legs`` of a leg erased (a SIP dialog, which names the caller): deleted.
* ``privacy_requests`` the person made: the address (and any correction) cleared; the
  request stays, by id and outcome, as the record that it was handled.
* ``friend_invitations`` (Tell a Friend, issue 16) to the person's email, pending or sent:
  deleted, with their keyed hash, sender, and address and message if not yet sent. They are
  indexed under another blind index kind (``marketing``, the suppression list's), so the
  email given and the emails of the user and contact rows found are each hashed under that
  kind too. The suppression list is not touched: an objection to marketing outlives an
  erasure, and it is what keeps the person from being invited again.
* ``users.profile_url_enc`` (a public profile address) goes with the user's anonymisation.
* the audit log keeps what it has always kept: ids, never values.

The journal (``erasures``, and a file beside the database, ``erasures.journal``, that a
restored database does not roll back) holds, per email or number, an HMAC under the platform
blind-index key *of the row index* (so the rows' own index bytes are nowhere after the
erasure) and when. Kinds: ``email`` and ``phone`` (of ``*_index`` / ``number_index``) and
``friend`` (of a friend invitation's ``address_index``, the ``marketing`` kind: an email's
two indexes are keyed hashes under different labels, and neither can be made from the
other, so a replay that knows only the ``email`` entry could not find an invitation whose
address is no longer stored; each email erased is therefore journalled under both).
``replay_erasures`` applies it again to rows made before that time: a restored backup is
erased again before it serves; a new call, contact or invitation after the erasure is the
person's new data and is left alone, and never re-linked to the old rows, which no longer
carry an index.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from callroster.accounts.actor import Actor, Role
from callroster.errors import DataKeyDestroyedError, NotFoundError
from callroster.privacy.erasure import ErasureReport, ErasureSubject
from callroster.privacy.keys import BlindIndex, DecryptionError, FieldCipher
from callroster.store import suppressions
from callroster.store.errors import AccessDeniedError
from callroster.store.models import (
    ApiToken,
    CallRecord,
    Contact,
    Delegation,
    ErasureEntry,
    FriendInvitation,
    InvitationEmail,
    Leg,
    OpenLeg,
    PrivacyRequest,
    RecoveryCode,
    SetupLink,
    SignInSession,
    User,
)
from callroster.store.privacy_requests import ADDRESS as REQUEST_ADDRESS
from callroster.store.privacy_requests import PURPOSE as REQUESTS_KEY
from callroster.store.repository import affected
from callroster.store.unlinking import NO_INDEX

if TYPE_CHECKING:
    from callroster.store.store import Store

__all__ = ["ErasureReport", "ErasureSubject", "erase_person", "replay_erasures"]

log = logging.getLogger(__name__)

REMOVED_NAME = "Removed user"  # as user_admin.REMOVED_NAME
ERASED_REQUESTER = "erased"
SENDER_ERASED = "the sender was erased"  # a Tell a Friend invitation given up on
KINDS = ("email", "phone", "friend")  # journal kinds: the row indexes a person is found by


@dataclass
class _Found:
    """Row indexes (blind index bytes) of one person, grown as rows reveal more."""

    email: set[bytes] = field(default_factory=set)
    phone: set[bytes] = field(default_factory=set)
    friend: set[bytes] = field(default_factory=set)  # suppression_index of each email
    names: dict[str, set[str]] = field(default_factory=dict)  # account id -> names

    def of(self, kind: str) -> set[bytes]:
        return {"email": self.email, "phone": self.phone, "friend": self.friend}[kind]


def journal_digest(index: BlindIndex, kind: str, row_index: bytes) -> bytes:
    """What the journal keeps for a row index: a keyed hash of it (so not the rows' bytes)."""
    return index.of(f"erased.{kind}", row_index.hex())


def _authorise(actor: Actor) -> None:
    if actor.role not in (Role.OPERATOR, Role.SYSTEM):
        raise AccessDeniedError(f"{actor.label} may not erase a person: the operator only")


def erase_person(
    store: Store, actor: Actor, *, email: str | None = None, number: str | None = None
) -> ErasureReport:
    """Erase one person everywhere, by email and/or phone number (any spelling; a national
    number is read as GB's), journal it, and return the counts per table. Idempotent:
    erasing again changes nothing and journals nothing new.

    Raises:
        ValueError: neither an email nor a number, or one that cannot be normalised.
        AccessDeniedError: ``actor`` is not the operator or the system.
    """
    _authorise(actor)
    subject = ErasureSubject.of(email=email, number=number)
    index = store.keys.blind_index()
    found = _Found()
    if subject.email:
        found.email.add(index.of("email", subject.email))
        found.friend.add(suppressions.suppression_index(index, subject.email))
    if subject.number:
        found.phone.add(index.of("phone", subject.number))
    report = ErasureReport()
    now = store.clock()
    with store.sessions.begin() as session:
        _erase(store, session, found, None, report)
        for kind in KINDS:
            for row_index in sorted(found.of(kind)):
                entry_id = _journal(session, index, kind, row_index, now)
                if entry_id is not None:
                    report.journal_ids.append(entry_id)
        subject_id = report.journal_ids[0] if report.journal_ids else "repeat"
        store.audit.record(session, actor, "person.erase", f"erasure:{subject_id}", None)
    _append_to_file(store.erasure_journal_file, session_entries(store, report.journal_ids))
    _after_erasure(store)
    log.info("erased a person: %d rows changed in %d tables", report.total, len(report.counts))
    return report


def replay_erasures(store: Store, actor: Actor, *, everything: bool = True) -> ErasureReport:
    """Apply the journal again (the table and the file, merged; each entry to rows made
    before its time), after a backup is restored and before it serves. Entries the file holds
    but the table lacks (the restored database is older than them) are put back in the table.

    ``everything`` False applies only those missing entries (what ``serve`` does at each
    start: the others were applied in this database in the transaction that wrote them), and
    costs nothing when there are none; True (``callroster privacy replay-erasures``) applies
    all of them. Either way the rows' distinct indexes are each hashed once, so a replay
    costs a scan of the indexed columns.
    """
    _authorise(actor)
    index = store.keys.blind_index()
    entries = _journal_entries(store)
    report = ErasureReport()
    with store.sessions.begin() as session:
        known = {(e.kind, e.digest) for e in session.scalars(select(ErasureEntry))}
        missing = [(k, d, at) for k, d, at in entries if (k, d) not in known]
        for kind, digest, at in missing:
            session.add(ErasureEntry(id=str(uuid.uuid4()), kind=kind, digest=digest, erased_at=at))
        report.add("erasures", len(missing))
        wanted = {(k, d): at for k, d, at in (entries if everything else missing)}
        if not wanted:
            return report
        # The journal holds hashes of row indexes: hash each distinct index there is.
        for kind in KINDS:
            for row_index in list(_row_indexes(session, kind)):
                when = wanted.get((kind, journal_digest(index, kind, row_index)))
                if when is not None:
                    found = _Found()
                    found.of(kind).add(row_index)
                    _erase(store, session, found, when, report)
        store.audit.record(session, actor, "person.erase.replay", "erasures", None)
    _after_erasure(store)
    log.info("erasures replayed: %d rows changed", report.total)
    return report


# -- finding and erasing ---------------------------------------------------------------------
def _erase(
    store: Store, session: Session, found: _Found, before: dt.datetime | None, report: ErasureReport
) -> None:
    """Erase every row ``found`` leads to (made before ``before``, when given), following what
    the rows reveal (a user's phone, a contact's email, names) until nothing new appears."""
    for _ in range(4):  # each round can only add indexes the rows hold; a few suffice
        before_sizes = (len(found.email), len(found.phone))
        users = _users(session, found, before)
        contacts = _contacts(session, found, before)
        rows: list[User | Contact] = [*users, *contacts]
        for row in rows:
            email_index, phone_index = row.email_index, row.phone_index
            if email_index is not None:
                found.email.add(email_index)
            if phone_index is not None:
                found.phone.add(phone_index)
        if (len(found.email), len(found.phone)) == before_sizes:
            break
    users = _users(session, found, before)
    contacts = _contacts(session, found, before)
    legs = _legs(session, found, before)
    _remember_emails(store, found, users, contacts)
    for user in users:
        _remember_name(store, found, user.account_id, "users.name", user.name_enc)
    for contact in contacts:
        _remember_name(store, found, contact.account_id, "contacts.name", contact.name_enc)
    for leg in legs:
        _remember_name(store, found, leg.account_id, "legs.name", leg.name_enc)
    legs += _legs_by_name(store, session, found, before, {leg.id for leg in legs})
    report.add("users", _erase_users(store, session, users))
    report.add("contacts", len(contacts))
    for contact in contacts:
        session.delete(contact)
    report.add("legs", _erase_legs(session, legs))
    report.add("call_records", _erase_call_records(store, session, found, before, users))
    report.add("invitation_emails", _erase_invitations(store, session, found, before, users))
    report.add("privacy_requests", _erase_request_addresses(store, session, found, before))
    report.add("friend_invitations", _erase_friend_invitations(session, found, before, users))


def _created_before(column: object, before: dt.datetime | None) -> list[object]:
    return [] if before is None else [column < before]  # type: ignore[operator]


def _users(session: Session, found: _Found, before: dt.datetime | None) -> list[User]:
    if not found.email and not found.phone:
        return []
    return list(
        session.scalars(
            select(User).where(
                or_(User.email_index.in_(found.email), User.phone_index.in_(found.phone)),
                *_created_before(User.created_at, before),  # type: ignore[arg-type]
            )
        )
    )


def _contacts(session: Session, found: _Found, before: dt.datetime | None) -> list[Contact]:
    if not found.email and not found.phone:
        return []
    return list(
        session.scalars(
            select(Contact).where(
                or_(Contact.email_index.in_(found.email), Contact.phone_index.in_(found.phone)),
                *_created_before(Contact.created_at, before),  # type: ignore[arg-type]
            )
        )
    )


def _legs(session: Session, found: _Found, before: dt.datetime | None) -> list[Leg]:
    if not found.phone:
        return []
    return list(
        session.scalars(
            select(Leg).where(
                Leg.number_index.in_(found.phone),
                *_created_before(Leg.joined_at, before),  # type: ignore[arg-type]
            )
        )
    )


def _cipher(store: Store, account_id: str) -> FieldCipher | None:
    try:
        return store.keys.cipher(account_id)
    except (DataKeyDestroyedError, NotFoundError):
        return None  # shredded: nothing of it can be read, so nothing to find by name


def _remember_name(
    store: Store, found: _Found, account_id: str, context: str, blob: bytes | None
) -> None:
    cipher = _cipher(store, account_id)
    if cipher is None or blob is None:
        return
    try:
        name = cipher.decrypt(context, blob)
    except DecryptionError:
        return
    if name and name != REMOVED_NAME:
        found.names.setdefault(account_id, set()).add(name.casefold())


def _legs_by_name(
    store: Store, session: Session, found: _Found, before: dt.datetime | None, seen: set[str]
) -> list[Leg]:
    """The legs of the same accounts that carry one of the person's names (a web guest who
    typed it, a contact's name put on a call): they are the person's too."""
    matches: list[Leg] = []
    for account_id, names in found.names.items():
        cipher = _cipher(store, account_id)
        if cipher is None:
            continue
        # Only the id and the sealed name of each leg are read (not whole rows), and only
        # the legs that match are loaded: an account's whole history is opened here.
        named = session.execute(
            select(Leg.id, Leg.name_enc).where(
                Leg.account_id == account_id,
                Leg.name_enc.is_not(None),
                *_created_before(Leg.joined_at, before),  # type: ignore[arg-type]
            )
        )
        wanted: list[str] = []
        for leg_id, name_enc in named:
            if leg_id in seen or name_enc is None:
                continue
            try:
                name = cipher.decrypt("legs.name", name_enc)
            except DecryptionError:
                continue
            if name.casefold() in names:
                wanted.append(leg_id)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            matches += session.scalars(select(Leg).where(Leg.id.in_(chunk)))
    return matches


def _erase_users(store: Store, session: Session, users: list[User]) -> int:
    now = store.clock()
    changed = 0
    for user in users:
        cipher = _cipher(store, user.account_id)
        if cipher is not None:
            user.name_enc = cipher.encrypt("users.name", REMOVED_NAME)
        else:  # shredded: what is there is unreadable already; leave no ciphertext either
            user.name_enc = b""
        user.email_enc = user.email_index = user.phone_enc = user.phone_index = None
        user.password_hash = user.totp_secret_enc = user.totp_state = None
        user.totp_enrolled_at = user.totp_last_step = None
        user.profile_url_enc = user.profile_consent_at = None  # their public profile
        user.suspended_at = user.suspended_at or now
        user.removed_at = user.removed_at or now
        session.execute(delete(SignInSession).where(SignInSession.user_id == user.id))
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.execute(
            update(SetupLink)
            .where(SetupLink.user_id == user.id, SetupLink.used_at.is_(None))
            .values(used_at=now)
        )
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        session.execute(
            delete(Delegation).where(
                or_(Delegation.host_id == user.id, Delegation.delegate_id == user.id)
            )
        )
        changed += 1
    return changed


def _erase_legs(session: Session, legs: list[Leg]) -> int:
    changed = 0
    for leg in {leg.id: leg for leg in legs}.values():
        if leg.name_enc is None and leg.number_enc is None and leg.number_index is None:
            continue
        leg.name_enc = leg.name_source = leg.number_enc = leg.number_index = None
        changed += 1
    ids = [leg.id for leg in legs]
    if ids:
        affected(session, delete(OpenLeg).where(OpenLeg.leg_id.in_(ids)))
    return changed


def _erase_call_records(
    store: Store,
    session: Session,
    found: _Found,
    before: dt.datetime | None,
    users: list[User],
) -> int:
    user_ids = [user.id for user in users]
    conditions = []
    if found.phone:
        conditions.append(CallRecord.number_index.in_(found.phone))
    if user_ids:
        conditions.append(CallRecord.requested_by.in_(user_ids))
    if not conditions:
        return 0
    changed = 0
    for record in session.scalars(
        select(CallRecord).where(
            or_(*conditions),
            *_created_before(CallRecord.started_at, before),  # type: ignore[arg-type]
        )
    ):
        if record.requested_by in user_ids:
            record.requested_by = ERASED_REQUESTER
        if record.number_index in found.phone:
            record.number_enc = _country_code_only(store, record)
            record.number_index = NO_INDEX
        changed += 1
    return changed


def _country_code_only(store: Store, record: CallRecord) -> bytes:
    """The destination's country calling code, sealed as the number was (billing rates a
    call by destination country; the rest of the number is the person's)."""
    cipher = _cipher(store, record.account_id)
    if cipher is None:
        return b""
    try:
        number = cipher.decrypt("call_records.number", record.number_enc)
    except DecryptionError:
        return b""
    import phonenumbers  # noqa: PLC0415 - only an erasure needs it here

    try:
        code = phonenumbers.parse(number).country_code
    except phonenumbers.NumberParseException:
        return b""
    return cipher.encrypt("call_records.number", f"+{code}")


def _erase_invitations(
    store: Store,
    session: Session,
    found: _Found,
    before: dt.datetime | None,
    users: list[User],
) -> int:
    """The outbox keeps recipients encrypted without an index: each is opened and its blind
    index compared with the person's."""
    if not found.email:
        return 0
    index = store.keys.blind_index()
    deleted = 0
    rows = session.scalars(
        select(InvitationEmail).where(
            *_created_before(InvitationEmail.created_at, before)  # type: ignore[arg-type]
        )
    )
    for row in list(rows):
        cipher = _cipher(store, row.account_id)
        if cipher is None:
            continue
        try:
            recipient = cipher.decrypt("invitation_emails.recipient", row.recipient_enc)
        except DecryptionError:
            continue
        if index.of("email", recipient.strip().lower()) in found.email:
            session.delete(row)
            deleted += 1
    return deleted


def _erase_request_addresses(
    store: Store, session: Session, found: _Found, before: dt.datetime | None
) -> int:
    """Data-subject requests keep the address (under a platform key) only while they need
    it; the person's own are cleared here (the request stays, by id, as proof it was
    handled). Each address is opened and its blind index compared with the person's."""
    rows = list(
        session.scalars(
            select(PrivacyRequest).where(
                PrivacyRequest.address_enc.is_not(None),
                *_created_before(PrivacyRequest.received_at, before),  # type: ignore[arg-type]
            )
        )
    )
    if not rows:  # and so no key is made here, inside this write transaction
        return 0
    cipher = store.keys.platform_cipher(REQUESTS_KEY)  # exists: it sealed these rows
    index = store.keys.blind_index()
    cleared = 0
    for row in rows:
        if row.address_enc is None:
            continue
        try:
            address = cipher.decrypt(REQUEST_ADDRESS, row.address_enc)
        except DecryptionError:
            continue
        kind = "email" if row.channel == "email" else "phone"
        if index.of(kind, address) in found.of(kind):
            row.address_enc = row.correction_enc = None
            cleared += 1
    return cleared


def _remember_emails(
    store: Store, found: _Found, users: list[User], contacts: list[Contact]
) -> None:
    """The ``marketing`` index of each email the person's user and contact rows hold (read
    before they are cleared): Tell a Friend invitations are found by it."""
    index = store.keys.blind_index()
    sealed = [("users.email", u.account_id, u.email_enc) for u in users] + [
        ("contacts.email", c.account_id, c.email_enc) for c in contacts
    ]
    for context, account_id, blob in sealed:
        cipher = _cipher(store, account_id)
        if cipher is None or not blob:
            continue
        try:
            email = cipher.decrypt(context, blob).strip().lower()
        except DecryptionError:
            continue
        if email:
            found.friend.add(suppressions.suppression_index(index, email))


def _erase_friend_invitations(
    session: Session, found: _Found, before: dt.datetime | None, users: list[User]
) -> int:
    """Tell a Friend invitations to the person's emails (found by their ``marketing`` index):
    deleted, with the keyed hash, the sender and (if not yet sent) the encrypted address and
    message. The suppression list is kept: an objection to marketing outlives an erasure.
    Invitations the person sent (a user erased): who sent them is cleared, and one not yet
    sent is given up on (its message is the person's words, and would go out under their
    name); the row stays, as the friend's "invited once"."""
    made_before = _created_before(FriendInvitation.created_at, before)
    changed = 0
    if found.friend:
        changed += affected(
            session,
            delete(FriendInvitation).where(
                FriendInvitation.address_index.in_(found.friend),
                *made_before,  # type: ignore[arg-type]
            ),
        )
    sender_ids = [user.id for user in users]
    if sender_ids:
        by_person = FriendInvitation.sender_id.in_(sender_ids)
        unsent = FriendInvitation.address_enc.is_not(None)
        changed += affected(
            session,
            update(FriendInvitation)
            .where(by_person, unsent, *made_before)  # type: ignore[arg-type]
            .values(
                sender_id=None,
                status="failed",
                next_attempt_at=None,
                last_error=SENDER_ERASED,
                address_enc=None,
                message_enc=None,
                token_enc=None,
            ),
        )
        changed += affected(
            session,
            update(FriendInvitation)
            .where(by_person, *made_before)  # type: ignore[arg-type]
            .values(sender_id=None),
        )
    return changed


def _row_indexes(session: Session, kind: str) -> Iterable[bytes]:
    """Every distinct blind index of ``kind`` the rows carry."""
    by_kind: dict[str, list[InstrumentedAttribute[Any]]] = {
        "email": [User.email_index, Contact.email_index],
        "phone": [User.phone_index, Contact.phone_index, Leg.number_index, CallRecord.number_index],
        "friend": [FriendInvitation.address_index],  # never the suppression list's
    }
    columns = by_kind[kind]
    seen: set[bytes] = set()
    for column in columns:
        for value in session.scalars(select(column).where(column.is_not(None)).distinct()):
            if value is not None and value != NO_INDEX and value not in seen:
                seen.add(value)
                yield value


# -- the journal -------------------------------------------------------------------------
def _journal(
    session: Session, index: BlindIndex, kind: str, row_index: bytes, at: dt.datetime
) -> str | None:
    digest = journal_digest(index, kind, row_index)
    existing = session.scalar(
        select(ErasureEntry.id).where(ErasureEntry.kind == kind, ErasureEntry.digest == digest)
    )
    if existing is not None:
        return None
    entry_id = str(uuid.uuid4())
    session.add(ErasureEntry(id=entry_id, kind=kind, digest=digest, erased_at=at))
    session.flush()
    return entry_id


def session_entries(store: Store, ids: list[str]) -> list[tuple[str, bytes, dt.datetime]]:
    if not ids:
        return []
    with store.sessions() as session:
        rows = session.scalars(select(ErasureEntry).where(ErasureEntry.id.in_(ids)))
        return [(row.kind, row.digest, row.erased_at) for row in rows]


def _append_to_file(path: Path | None, entries: list[tuple[str, bytes, dt.datetime]]) -> None:
    """Append entries to the journal file (mode 0600): ``kind hex-digest iso-time`` lines."""
    if path is None or not entries:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        for kind, digest, at in entries:
            handle.write(f"{kind} {digest.hex()} {at.isoformat()}\n")
        handle.flush()
        os.fsync(handle.fileno())


def _journal_entries(store: Store) -> list[tuple[str, bytes, dt.datetime]]:
    """The table's entries and the file's, merged (the earliest time of each)."""
    merged: dict[tuple[str, bytes], dt.datetime] = {}
    with store.sessions() as session:
        for row in session.scalars(select(ErasureEntry)):
            merged[(row.kind, row.digest)] = row.erased_at
    path = store.erasure_journal_file
    if path is not None and path.exists():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                kind, digest, at = (
                    parts[0],
                    bytes.fromhex(parts[1]),
                    dt.datetime.fromisoformat(parts[2]),
                )
            except (IndexError, ValueError):
                log.warning("erasure journal %s line %d is not an entry; skipped", path, number)
                continue
            if kind in KINDS:
                key = (kind, digest)
                merged[key] = min(merged.get(key, at), at)
    return [(kind, digest, at) for (kind, digest), at in merged.items()]


def _after_erasure(store: Store) -> None:
    """On SQLite, copy the WAL into the database and empty it, so no page image from before
    the erasure stays in the WAL file (``secure_delete`` already zeroes freed space)."""
    if store.engine.dialect.name != "sqlite":
        return
    raw = store.engine.raw_connection()  # outside a transaction, as a checkpoint must be
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = cursor.fetchone()
        cursor.close()
    finally:
        raw.close()
    if busy and busy[0]:
        log.warning("the WAL could not be emptied after an erasure: a reader held it")
