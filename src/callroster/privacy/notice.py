"""The privacy notice in plain words, made from the inventory and the retention terms.

``web/privacy.py`` renders it as the public ``/privacy`` page. Nothing here is written by
hand per column: each row is one ``Holding`` of ``privacy/inventory.py`` said in words, and
each "how long" is its retention class's terms (``RetentionTerms``: the configured periods
and the lifetimes fixed in code), so a column declared, a class changed or a period
configured changes the page. Pure: no settings, no store, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from callroster.privacy.inventory import (
    INVENTORY,
    Holding,
    Inventory,
    LegalBasis,
    Protection,
    Reader,
    Subject,
)
from callroster.privacy.retention_classes import RetentionClass

BASIS_WORDS: Mapping[LegalBasis, str] = {
    LegalBasis.CONTRACT: "needed to provide the service the account signed up for",
    LegalBasis.LEGITIMATE_INTERESTS: "a legitimate interest in running the service well "
    "and safely, weighed against yours",
    LegalBasis.LEGAL_OBLIGATION: "the law requires us to keep it",
    LegalBasis.CONSENT: "your consent, which you may withdraw at any time",
}

PROTECTION_WORDS: Mapping[Protection, str] = {
    Protection.ENCRYPTED: "Encrypted with a key of the account's own; destroying that key "
    "erases it for good, backups included",
    Protection.ENCRYPTED_BY_SERVICE: "Encrypted with a key of the service's own, and "
    "deleted once it is no longer needed",
    Protection.BLIND_INDEX: "Kept only as a keyed fingerprint used to find matching records; "
    "the value cannot be read back from it",
    Protection.HASH: "Kept only as a one-way hash; no one can read it back",
    Protection.CLEAR: "Stored as it is, on the service's own servers",
}

READER_WORDS: Mapping[Reader, str] = {
    Reader.PERSON: "you",
    Reader.ADMINISTRATORS: "the account's administrators",
    Reader.HOSTS: "the conference's host and their delegates",
    Reader.PARTICIPANTS: "others on the same call (numbers only if the account shows them)",
    Reader.OPERATOR: "the service's operator, for support and privacy requests (logged)",
    Reader.SERVICE: "no one: only the service itself uses it",
}


@dataclass(frozen=True)
class Audience:
    """A group of readers of the page, and the subjects whose holdings concern them."""

    key: str
    heading: str
    subjects: tuple[Subject, ...]


AUDIENCES = (
    Audience(
        "account",
        "If you have an account: administrators, hosts and delegates",
        (Subject.ACCOUNT_PEOPLE,),
    ),
    Audience(
        "guests",
        "If you join a call, are called, are invited or are in a contact list",
        (Subject.CALLERS, Subject.INVITEES, Subject.CONTACTS),
    ),
)


@dataclass(frozen=True)
class RetentionTerms:
    """How long each class is kept, in words.

    ``periods``: every class, e.g. "6 months from the end of the call, …"; ``overrides``:
    (where, class, words) for the countries that configure their own period.
    """

    periods: Mapping[RetentionClass, str]
    overrides: tuple[tuple[str, RetentionClass, str], ...] = ()

    def __post_init__(self) -> None:
        missing = set(RetentionClass) - set(self.periods)
        if missing:
            raise ValueError(f"no terms for {sorted(missing)}")

    def words(self, cls: RetentionClass) -> str:
        """The class's period, with the countries that differ."""
        text = self.periods[cls]
        other = [f"{where}: {words}" for where, c, words in self.overrides if c is cls]
        return text + (f" ({'; '.join(other)})" if other else "")


@dataclass(frozen=True)
class NoticeRow:
    """One holding, as a person reads it."""

    where: str  # the holding's place (the inventory's key), for tests and the operator
    what: str
    why: str
    how_long: str
    protection: str
    readers: str


def row(holding: Holding, terms: RetentionTerms) -> NoticeRow:
    what = holding.what
    if not holding.in_use:
        what += " (not made by this version of the service)"
    return NoticeRow(
        where=holding.where,
        what=what,
        why=f"{_sentence(holding.purpose)} ({BASIS_WORDS[holding.legal_basis]}).",
        how_long=terms.words(holding.retention),
        protection=PROTECTION_WORDS[holding.protection] + ".",
        readers=_sentence(", ".join(READER_WORDS[r] for r in holding.readers)) + ".",
    )


def rows_for(
    audience: Audience, terms: RetentionTerms, inventory: Inventory = INVENTORY
) -> tuple[NoticeRow, ...]:
    """The rows of the holdings about ``audience``'s subjects, in the inventory's order."""
    return tuple(
        row(h, terms)
        for h in inventory.holdings
        if any(subject in h.subjects for subject in audience.subjects)
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
