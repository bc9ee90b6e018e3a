"""The list of addresses a host sends an invitation to: read from what they typed or sent,
checked whole before anything is queued (one message naming every bad entry), capped."""

from __future__ import annotations

import re
from collections.abc import Iterable

# What an address may look like: RFC 5321's dot-atom local part and a domain of at least two
# labels of letters, digits and hyphens. Quoted local parts and non-ASCII addresses
# (RFC 6531) are refused: few servers take them, and a clear refusal beats a bounce later.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")
_NAMED = re.compile(r"^[^<>]*<([^<>]*)>$")  # "Ada Lovelace <ada@example.org>"
_SEPARATORS = re.compile(r"[,;\n\r]+")
LONGEST = 254  # RFC 5321 4.5.3.1.3: a path of 256 octets, less the angle brackets
SHOWN = 5  # bad entries named in one message; the count says how many more


class RecipientsError(ValueError):
    """Why an address list was refused, in one sentence for the person who typed it."""


def split(text: str) -> list[str]:
    """The entries of a typed list: separated by commas, semicolons or line ends (or, for
    a line holding no angle bracket, spaces); empty entries dropped."""
    entries: list[str] = []
    for part in _SEPARATORS.split(text):
        part = part.strip()
        if not part:
            continue
        entries.extend([part] if "<" in part else part.split())
    return entries


def recipients(entries: Iterable[str], *, most: int) -> list[str]:
    """The addresses of ``entries`` (each one address, or ``Name <address>``), without
    repeats (the same address in another case counts once), in the order given.

    Raises:
        RecipientsError: none given; more than ``most``; or some are not addresses (all of
            them named, by position and as typed, in one message).
    """
    given: list[str] = []
    typed: set[str] = set()
    for entry in (e.strip() for e in entries):
        if entry and entry.lower() not in typed:  # a repeat is counted once
            typed.add(entry.lower())
            given.append(entry)
    if not given:
        raise RecipientsError("Give at least one email address.")
    if len(given) > most:
        raise RecipientsError(
            f"An invitation goes to {most} addresses at most at a time; this list has "
            f"{len(given)}. Nothing was sent."
        )
    found: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    for position, entry in enumerate(given, start=1):
        address = _address_in(entry)
        if address is None:
            bad.append(f"{position} ({_shown(entry)})")
            continue
        if address.lower() not in seen:
            seen.add(address.lower())
            found.append(address)
    if bad:
        more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        what = "entry" if len(bad) == 1 else "entries"
        raise RecipientsError(
            f"Not an email address: {what} {', '.join(bad[:SHOWN])}{more}. Nothing was sent."
        )
    return found


def _address_in(entry: str) -> str | None:
    named = _NAMED.match(entry)
    address = (named.group(1) if named else entry).strip()
    if len(address) > LONGEST or not _ADDRESS.fullmatch(address):
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def _shown(entry: str) -> str:
    """An entry as typed, short and printable, to name it in the message."""
    printable = "".join(c if c.isprintable() else "?" for c in entry)
    return printable if len(printable) <= 40 else printable[:39] + "…"
