"""Erasure of one person (a data subject): what is erased, and what an erasure reports. Pure.

The erasure itself touches the store, so it lives in ``callroster.store.erasure``
(``erase_person(store, actor, *, email=None, number=None) -> ErasureReport``; this package
stays pure, see tests/test_architecture.py). Here: the person as the erasure looks them up
(``ErasureSubject``: an email and a number normalised to the forms the blind index holds, so
every spelling of a number finds the same rows) and the report (counts per table, no
personal data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callroster.privacy import normalise


@dataclass(frozen=True)
class ErasureSubject:
    """The person to erase, normalised: ``email`` lower-cased, ``number`` in E.164."""

    email: str | None
    number: str | None

    @classmethod
    def of(cls, *, email: str | None, number: str | None, region: str = "GB") -> ErasureSubject:
        """Normalise what was asked for.

        Raises:
            ValueError: neither is given, or one is not an email / a phone number
                (``normalise.InvalidValueError``).
        """
        if not email and not number:
            raise ValueError("name the person by email or by number")
        return cls(
            normalise.email(email) if email else None,
            normalise.phone_e164(number, region) if number else None,
        )


@dataclass
class ErasureReport:
    """What an erasure changed: rows per table (``{"legs": 3, ...}``; no personal data) and
    the ids of its journal entries (new ones only; an erasure repeated adds none)."""

    journal_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, rows: int) -> None:
        if rows:
            self.counts[table] = self.counts.get(table, 0) + rows

    @property
    def total(self) -> int:
        return sum(self.counts.values())
