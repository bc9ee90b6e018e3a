"""Which numbers the service may call: an allow list, never a block list (toll fraud,
issue 12 finding 6). Pure: a number in E.164 in, a refusal or nothing out.

A number is called only when all of these hold:

- ``phonenumbers`` knows it as a number in use (``is_valid_number``): a number in no
  allocated range has type UNKNOWN and is refused;
- its type is one the operator allows (``dial_out_number_types``; by default fixed line,
  mobile and toll-free). Premium-rate, shared-cost, UAN, personal, pager, voicemail and VoIP
  numbers are refused unless named there;
- its country (the region ``phonenumbers`` gives it, so +1 876 is Jamaica, not the US) is in
  the operator's list for hosts (``dial_out_countries``); for a guest who asked to be called
  it must also be in ``dial_out_guest_countries``. International networks (satellite,
  +881/+882/+883/+870, international premium +979: ``phonenumbers``' region ``001``) count as
  the country ``001``, which no default list holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

INTERNATIONAL_NETWORKS = "001"  # phonenumbers' region for +800, +870, +881, +882, +883, +979...
TYPE_NAMES: dict[str, int] = {
    name.lower(): value
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and name != "UNKNOWN"
}
TYPE_WORDS: dict[int, str] = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate numbers",
    PhoneNumberType.SHARED_COST: "shared-cost numbers",
    PhoneNumberType.UAN: "non-geographic (UAN) numbers",
    PhoneNumberType.PERSONAL_NUMBER: "personal numbers",
    PhoneNumberType.PAGER: "pagers",
    PhoneNumberType.VOICEMAIL: "voicemail access numbers",
    PhoneNumberType.VOIP: "VoIP numbers",
    PhoneNumberType.TOLL_FREE: "freephone numbers",
    PhoneNumberType.FIXED_LINE: "landlines",
    PhoneNumberType.MOBILE: "mobiles",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "landlines and mobiles",
}


class DialRefusedError(Exception):
    """A number the policy does not let the service call; the message says why, in words
    a guest can act on, without repeating the number."""


def country_list(text: str) -> frozenset[str]:
    """Countries from a comma-separated setting: ISO codes ``phonenumbers`` knows, or ``001``.

    Raises:
        ValueError: naming the first code that is neither.
    """
    codes = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    for code in sorted(codes):
        if code != INTERNATIONAL_NETWORKS and code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"not a country code phonenumbers knows: {code!r}")
    return codes


def type_list(text: str) -> frozenset[int]:
    """Number types from a comma-separated setting (``fixed_line,mobile,...``).

    Raises:
        ValueError: naming the first unknown type (``unknown`` itself is never allowed).
    """
    types = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        if part not in TYPE_NAMES:
            raise ValueError(f"not a number type: {part!r}; one of {', '.join(TYPE_NAMES)}")
        types.add(TYPE_NAMES[part])
    return frozenset(types)


@dataclass(frozen=True)
class DialPolicy:
    """The operator's allow list: ``countries`` for everyone (hosts, click-to-call),
    ``guest_countries`` besides for "we call you", ``number_types`` for all."""

    countries: frozenset[str]
    guest_countries: frozenset[str]
    number_types: frozenset[int]

    @classmethod
    def of(cls, countries: str, guest_countries: str, number_types: str) -> DialPolicy:
        return cls(country_list(countries), country_list(guest_countries), type_list(number_types))

    def check(self, e164: str, *, guest: bool) -> None:
        """Refuse ``e164`` unless the allow list lets a host (or, ``guest``, a guest) call it.

        Raises:
            DialRefusedError: why, in words.
        """
        try:
            number = phonenumbers.parse(e164)
        except phonenumbers.NumberParseException:
            raise DialRefusedError("that is not a phone number we can call") from None
        region = phonenumbers.region_code_for_number(number)
        if region == INTERNATIONAL_NETWORKS and INTERNATIONAL_NETWORKS not in self._allowed(guest):
            raise DialRefusedError(
                "calls to satellite and international network numbers are not allowed"
            )
        if not phonenumbers.is_valid_number(number) or region is None:
            raise DialRefusedError("that number is not in use; check it and try again")
        kind = phonenumbers.number_type(number)
        if kind not in self.number_types:
            words = TYPE_WORDS.get(kind, "numbers of this kind")
            raise DialRefusedError(f"calls to {words} are not allowed")
        if region not in self._allowed(guest):
            raise DialRefusedError(f"this service does not call numbers in {_country(region)}")

    def _allowed(self, guest: bool) -> Iterable[str]:
        return self.countries & self.guest_countries if guest else self.countries


def _country(region: str) -> str:
    """A region as its code and calling code (``JM, +1``): no name tables needed."""
    return f"{region} (+{phonenumbers.country_code_for_region(region)})"
