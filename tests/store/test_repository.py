"""The one encrypted-field helper keeps the stored format: the same associated data in the
ciphertext and the same blind index as the hand-written code it replaced, so rows written
before decrypt and are found."""

from __future__ import annotations

import pytest

from callroster.privacy.keys import BlindIndex, FieldCipher
from callroster.store import repository
from callroster.store.repository import IndexedField

# Field -> (the context and index kind written by hand before the helper). Never change these.
FORMAT = {
    repository.USER_EMAIL: ("users.email", "email"),
    repository.USER_PHONE: ("users.phone", "phone"),
    repository.CONFERENCE_PIN: ("conferences.pin", "pin"),
    repository.CONFERENCE_HOST_PIN: ("conferences.host_pin", "pin"),
    repository.CONFERENCE_WEB_LINK: ("conferences.web_link", "web_link"),
    repository.LEG_NUMBER: ("legs.number", "phone"),
    repository.CONTACT_PHONE: ("contacts.phone", "phone"),
    repository.CONTACT_EMAIL: ("contacts.email", "email"),
    repository.CALL_NUMBER: ("call_records.number", "phone"),
}
CIPHER = FieldCipher("account-1", bytes(range(32)))
INDEX = BlindIndex(bytes(range(32, 64)))


@pytest.mark.parametrize(("field", "format_"), FORMAT.items())
def test_sealed_fields_read_as_before(field: IndexedField, format_: tuple[str, str]) -> None:
    context, kind = format_
    ciphertext, index = field.seal(CIPHER, INDEX, "+447700900123")
    assert CIPHER.decrypt(context, ciphertext) == "+447700900123"
    assert index == INDEX.of(kind, "+447700900123")
    old = CIPHER.encrypt(context, "+447700900123")
    assert field.open(CIPHER, old) == "+447700900123"
    assert field.index_of(INDEX, "+447700900123") == INDEX.of(kind, "+447700900123")


def test_an_absent_value_stores_nothing_and_an_empty_one_no_index() -> None:
    assert repository.USER_EMAIL.seal_optional(CIPHER, INDEX, None) == (None, None)
    ciphertext, index = repository.USER_EMAIL.seal_optional(CIPHER, INDEX, "")
    assert ciphertext is not None and index is None
    assert repository.USER_EMAIL.open_optional(CIPHER, None) is None
