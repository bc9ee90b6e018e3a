"""Parsing a contact list an account imports (CSV or vCard) into checked rows. Pure.

All or nothing: any bad row is reported with its line number and nothing is imported, so a
half-imported list never confuses name resolution.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from callroster.privacy import normalise

MAX_CONTACTS = 10_000


@dataclass(frozen=True)
class ContactRow:
    name: str
    phone: str | None  # E.164
    email: str | None


class ImportError_(ValueError):  # noqa: N801 - ImportError is a builtin
    """The list has problems; ``problems`` names each by its line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:20]))
        self.problems = problems


def _row(
    name: str, phone: str, email: str, where: str, problems: list[str], region: str
) -> ContactRow | None:
    name = name.strip()
    if not name or len(name) > 120:
        problems.append(f"{where}: a name of 1 to 120 characters is needed")
        return None
    e164 = mail = None
    try:
        e164 = normalise.phone_e164(phone, region) if phone.strip() else None
        mail = normalise.email(email) if email.strip() else None
    except normalise.InvalidValueError as exc:
        problems.append(f"{where}: {exc}")
        return None
    if e164 is None and mail is None:
        problems.append(f"{where}: a phone number or an email is needed")
        return None
    return ContactRow(name, e164, mail)


def parse_csv(text: str, region: str = "GB") -> list[ContactRow]:
    """Rows of ``name,phone[,email]``; a first row naming the columns is skipped."""
    rows: list[ContactRow] = []
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"line {reader.line_num}: not CSV ({exc})")
            break
        number = reader.line_num
        if not fields or not any(f.strip() for f in fields):
            continue
        if number == 1 and fields[0].strip().lower() == "name":
            continue
        fields = [*fields, "", ""]
        row = _row(fields[0], fields[1], fields[2], f"line {number}", problems, region)
        if row is not None:
            rows.append(row)
    return _checked(rows, problems)


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if raw.startswith((" ", "\t")) and lines:
            lines[-1] += raw[1:]
        else:
            lines.append(raw)
    return lines


def parse_vcard(text: str, region: str = "GB") -> list[ContactRow]:
    """vCards (2.1 to 4.0): FN, the first TEL and the first EMAIL of each card."""
    rows: list[ContactRow] = []
    problems: list[str] = []
    card: dict[str, str] | None = None
    start = 0
    for number, line in enumerate(_unfold(text), start=1):
        key, _, value = line.partition(":")
        name = key.split(";")[0].strip().upper()
        if name == "BEGIN" and value.strip().upper() == "VCARD":
            card, start = {}, number
        elif name == "END" and card is not None:
            row = _row(
                card.get("FN", ""),
                card.get("TEL", ""),
                card.get("EMAIL", ""),
                f"card at line {start}",
                problems,
                region,
            )
            if row is not None:
                rows.append(row)
            card = None
        elif card is not None and name in ("FN", "TEL", "EMAIL") and name not in card:
            card[name] = value.strip()
    if card is not None:
        problems.append(f"card at line {start}: no END:VCARD")
    return _checked(rows, problems)


def _checked(rows: list[ContactRow], problems: list[str]) -> list[ContactRow]:
    if len(rows) > MAX_CONTACTS:
        problems.append(f"at most {MAX_CONTACTS} contacts at a time")
    if problems:
        raise ImportError_(problems)
    return rows
