"""What the repositories of personal data share: their constructor, and the one way a
looked-up personal field is written (ciphertext beside a keyed blind index).

A repository method opens one transaction (``self._sessions.begin()``); a method another
repository calls inside its own transaction takes that ``Session`` as its first argument
instead, so one change stays one transaction.

Every encrypted field that is also looked up is named once below, as an ``IndexedField``:
its ``context`` is bound into the ciphertext (AES-GCM associated data, with the account id)
and its ``kind`` into the blind index (``hmac(key, kind NUL normalised value)``). Both are
part of the stored format: changing either makes existing rows unreadable or unfindable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Delete, Update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from callroster.privacy.keys import BlindIndex, FieldCipher
from callroster.store.audit import AuditLog
from callroster.store.keys import KeyStore


class Repository:
    """Base of the repositories that read and write an account's personal data.

    Args:
        sessions: the store's session factory (writes go through the one writer).
        keys: the key store: each account's field cipher and the platform's blind index.
        audit: the audit log every read or change of personal data is recorded in.
        clock: the store's wall clock (a fake one in tests).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        keys: KeyStore,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._sessions = sessions
        self._keys = keys
        self._audit = audit
        self._clock = clock

    def _index_of(self, field: IndexedField, normalised: str) -> bytes:
        """The blind index a look-up of ``field`` by this (normalised) value searches for."""
        return field.index_of(self._keys.blind_index(), normalised)


def affected(session: Session, statement: Delete | Update) -> int:
    """Runs a bulk DELETE or UPDATE; returns how many rows it changed."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class IndexedField:
    """A personal field kept as ``<column>_enc`` (ciphertext) beside ``<column>_index``.

    Attributes:
        context: the field's name bound into the ciphertext, e.g. ``"users.email"``.
        kind: the blind index's domain, e.g. ``"email"``; fields searched together (a phone
            number across users, contacts and legs) share one kind.
    """

    context: str
    kind: str

    def index_of(self, index: BlindIndex, normalised: str) -> bytes:
        return index.of(self.kind, normalised)

    def seal(self, cipher: FieldCipher, index: BlindIndex, normalised: str) -> tuple[bytes, bytes]:
        """The ciphertext and the blind index of a (normalised) value."""
        return cipher.encrypt(self.context, normalised), index.of(self.kind, normalised)

    def seal_optional(
        self, cipher: FieldCipher, index: BlindIndex, normalised: str | None
    ) -> tuple[bytes | None, bytes | None]:
        """As ``seal``; None stores neither, and an empty value is not indexed."""
        ciphertext = cipher.encrypt_optional(self.context, normalised)
        return ciphertext, index.of(self.kind, normalised) if normalised else None

    def open(self, cipher: FieldCipher, ciphertext: bytes) -> str:
        return cipher.decrypt(self.context, ciphertext)

    def open_optional(self, cipher: FieldCipher, ciphertext: bytes | None) -> str | None:
        return cipher.decrypt_optional(self.context, ciphertext)


USER_EMAIL = IndexedField("users.email", "email")
USER_PHONE = IndexedField("users.phone", "phone")
CONFERENCE_PIN = IndexedField("conferences.pin", "pin")
CONFERENCE_HOST_PIN = IndexedField("conferences.host_pin", "pin")
# Also written by migration 0010 (existing links), which spells both strings out itself.
CONFERENCE_WEB_LINK = IndexedField("conferences.web_link", "web_link")
LEG_NUMBER = IndexedField("legs.number", "phone")
CONTACT_PHONE = IndexedField("contacts.phone", "phone")
CONTACT_EMAIL = IndexedField("contacts.email", "email")
CALL_NUMBER = IndexedField("call_records.number", "phone")
