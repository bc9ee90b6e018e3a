"""Normalisation of look-up values before they are blind-indexed."""

from __future__ import annotations

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
