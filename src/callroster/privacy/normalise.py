"""Normalisation of look-up values before they are blind-indexed, and of the names people
give (``person_name``)."""

from __future__ import annotations

import unicodedata

import phonenumbers


class InvalidValueError(ValueError):
    """A phone number or email that cannot be normalised; the message says why."""


def phone_e164(raw: str, default_region: str = "GB") -> str:
    """Return the E.164 form (``+442071234567``) of a phone number.

    Args:
        raw: the number as typed or as signalled (``020 7123 4567``, ``+1 415-555-0100``,
            ``tel:+44...``).
        default_region: ISO country used when the number has no ``+`` prefix.

    Raises:
        InvalidValueError: if the text is not a possible phone number.
    """
    text = raw.strip().removeprefix("tel:")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValueError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidValueError("not a possible phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def email(raw: str) -> str:
    """Return the look-up form of an email address: trimmed and lower-cased."""
    text = raw.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or " " in text:
        raise InvalidValueError("not an email address")
    return text


# Characters a name may not hold (Unicode TR 36, TR 39): controls (NUL, escapes, line ends),
# format characters, which are invisible and include the bidi overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) that make a name read backwards, and the zero-width ones
# (U+200B-U+200D, U+2060, U+FEFF) that make two names look alike; surrogates, private use,
# and the line and paragraph separators.
_REFUSED_CATEGORIES = {
    "Cc": "a control",
    "Cf": "an invisible formatting",
    "Cs": "a surrogate",
    "Co": "a private-use",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def person_name(raw: str) -> str:
    """Return the form of a name a person gives (their own, a caller's, a leg's) that is
    stored and shown: NFC-normalised, spaces collapsed, trimmed.

    Raises:
        InvalidValueError: if the name is empty or holds a character of
            ``_REFUSED_CATEGORIES``; the message names the character's code point, never
            the name.
    """
    text = unicodedata.normalize("NFC", raw)
    for char in text:
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if kind is not None:
            raise InvalidValueError(
                f"a name may not hold {kind} character (U+{ord(char):04X}); type it as it is seen"
            )
    text = " ".join(text.split())
    if not text:
        raise InvalidValueError("type the name others should see")
    return text
