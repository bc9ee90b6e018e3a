"""The ZIP a person gets for an access request (issue 15): every table's rows about them, as
JSON and as CSV, with a README.txt explaining each file. Pure: rows in, bytes out.

The rows are found and decrypted by ``store.subject_data``; this module only lays them out.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

# What each table holds, for the README; a table not named here is described generically.
DESCRIPTIONS = {
    "users": "You as a registered user (host, delegate or administrator) of a customer "
    "account: your name, email, phone number and the state of your sign-in.",
    "delegations": "Who manages your conferences for you, or whose conferences you manage "
    "(user ids of the same account).",
    "conferences": "Conferences you host: their titles and when they were made (not their "
    "PINs or links, which are secrets of the conference).",
    "sign_in_sessions": "Your signed-in browsers: when they began, were last used, and the "
    "network address they came from.",
    "contacts": "Entries about you in customer accounts' own contact lists, used to show "
    "your name when you call their conferences.",
    "call_legs": "Your connections to conferences (call history): how you joined, the name "
    "and number shown, and when you joined and left.",
    "call_records": "Call detail records of calls placed to your number: when, how long, and "
    "how the call ended.",
    "invitations": "Invitation emails sent to your address: for which conference, when, and "
    "whether they were delivered.",
    "friend_invitations": "A Tell a Friend invitation to your address: when, and whether it was "
    "sent (the address itself is deleted once it is); who sent it, for 30 days.",
    "suppression_list": "Your address on our list of those who get no Tell a Friend or "
    "marketing email (we keep only a keyed fingerprint of it).",
}

Row = Mapping[str, Any]


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _csv(rows: Sequence[Row]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return out.getvalue()


def readme(tables: Mapping[str, Sequence[Row]], generated_at: dt.datetime) -> str:
    """The README.txt: what the export is, and one paragraph per file."""
    lines = [
        "Your personal data held by this Callroster service",
        "",
        f"Made at {generated_at.isoformat()} in answer to your access request. It holds",
        "every record found by your email address and by your phone number (in any",
        "spelling), across every customer account of the service. Data of an account",
        "whose encryption key has been destroyed can no longer be read by anyone and is",
        "not included.",
        "",
        "Each table is given twice: NAME.json (a list of records) and NAME.csv (the same",
        "records, one per line, for a spreadsheet). Times are UTC (ISO 8601).",
        "",
    ]
    for name, rows in tables.items():
        lines.append(f"{name}.json, {name}.csv ({len(rows)} records)")
        lines.append("  " + DESCRIPTIONS.get(name, "Records about you."))
        lines.append("")
    return "\n".join(lines)


def export_zip(tables: Mapping[str, Sequence[Row]], generated_at: dt.datetime) -> bytes:
    """The ZIP of ``tables`` (name -> rows): ``README.txt`` and, per table, ``.json`` and
    ``.csv``. Every table is there, an empty one as ``[]`` and a header-less CSV."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", readme(tables, generated_at))
        for name, rows in tables.items():
            records = [{key: _cell(value) for key, value in row.items()} for row in rows]
            archive.writestr(f"{name}.json", json.dumps(records, indent=2, ensure_ascii=False))
            archive.writestr(f"{name}.csv", _csv(rows))
    return buffer.getvalue()
