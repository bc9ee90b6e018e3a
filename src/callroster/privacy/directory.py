"""Third-party directories for name resolution, behind one interface, and enabled per country
only (the policy: "where allowed by law"). The adapter shipped is a local CSV file
(``number,name``); a commercial directory fills the same interface."""

from __future__ import annotations

import csv
from collections.abc import Collection
from pathlib import Path
from typing import Protocol

import phonenumbers

from callroster.privacy import normalise


class Directory(Protocol):
    def lookup(self, e164: str) -> str | None: ...


class FileDirectory:
    """A CSV of ``number,name`` rows, numbers in any spelling (normalised on load)."""

    def __init__(self, path: Path, default_region: str = "GB") -> None:
        self._names: dict[str, str] = {}
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) < 2 or row[0].strip().startswith("#"):
                    continue
                try:
                    self._names[normalise.phone_e164(row[0], default_region)] = row[1].strip()
                except normalise.InvalidValueError:
                    continue

    def lookup(self, e164: str) -> str | None:
        return self._names.get(e164)


class CountryGate:
    """Consults the directory only for numbers of the countries where that is allowed."""

    def __init__(self, directory: Directory, countries: Collection[str]) -> None:
        self._directory = directory
        self._countries = {c.upper() for c in countries}

    def lookup(self, e164: str) -> str | None:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
        except phonenumbers.NumberParseException:
            return None
        if region not in self._countries:
            return None
        return self._directory.lookup(e164)
