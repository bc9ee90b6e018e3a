"""The operator's export of consent records (issue 16), signed so that anyone holding the
service's public key can check it was not changed: JSON or CSV, Ed25519, detached.

**JSON.** ``{"payload": {...}, "signature": {"alg": "Ed25519", "key_id": ..., "value": ...}}``
written in canonical form (keys sorted, no spaces, UTF-8) and ending in one newline. The
signature covers the canonical JSON of ``payload`` alone: ``json.dumps(payload,
sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()``, so any other tool can
check it. ``verify`` is stricter still: the whole file must be exactly as exported, so a
changed byte anywhere, in the payload or in the signature object, fails.

**CSV.** A comment line with what was exported (``#consent-export,...``), a header row, one
row per record, then a last line ``#signature,Ed25519,<key_id>,<base64>`` whose signature
covers every byte before that line. A user agent beginning with ``=``, ``+``, ``-``, ``@``
or a tab is written with a leading ``'`` so that a spreadsheet does not run it as a formula.

**key_id**: the first 16 hex digits of the SHA-256 of the raw 32-byte public key. Every
export names the key that signed it, so after the service's key is rotated an export made
before is checked with the earlier key (``signer_of``, ``verify_with``).

Pure: bytes and keys in, bytes out; no clock (``exported_at`` is passed in), no store.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import hashlib
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG = "Ed25519"
FORMAT = "callroster-consent-export/1"
SIGNATURE_PREFIX = b"#signature,"
CSV_HEADER = (
    "id",
    "given_at",
    "ended_at",
    "method",
    "categories",
    "policy_version",
    "text_sha256",
    "replaces",
    "ip_truncated",
    "user_agent",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Format = Literal["json", "csv"]


class ExportInvalidError(Exception):
    """An export that does not verify; the message says why, in plain words."""


@dataclass(frozen=True)
class ExportedRecord:
    """One consent record as exported (times aware, UTC)."""

    id: str
    given_at: dt.datetime
    ended_at: dt.datetime | None
    method: str
    categories: tuple[str, ...]  # the optional categories accepted, sorted; () = rejected
    policy_version: str
    text_sha256: str
    replaces: str | None
    ip_truncated: str
    user_agent: str


@dataclass(frozen=True)
class ExportWindow:
    """What an export covers: ``[since, until)`` of ``given_at``, when it was made, and where
    the next export starts if this one was cut at the row limit (None: it holds them all)."""

    exported_at: dt.datetime
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    next_since: dt.datetime | None = None


@dataclass(frozen=True)
class Verified:
    """An export that verified: its format, how many records, the key that signed it, and
    when it says it was exported (None when that field is missing or not a time)."""

    format: Format
    records: int
    key_id: str
    exported_at: dt.datetime | None = None


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), as shown to anyone who asks."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """A public key from PEM. Raises ``ExportInvalidError`` when it is not an Ed25519 one."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ExportInvalidError("the public key is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ExportInvalidError("the public key is not an Ed25519 key")
    return key


PEM_BEGIN = b"-----BEGIN PUBLIC KEY-----"
PEM_KEY_LIMIT = 4096


def load_public_keys(pem: bytes) -> dict[str, Ed25519PublicKey]:
    """Every public key in a PEM file (one, or several as ``callroster consent public-key
    --all`` writes them, with comment lines between), by key id.

    Raises:
        ExportInvalidError: no key, more than ``PEM_KEY_LIMIT``, or one not Ed25519.
    """
    blocks = pem.split(PEM_BEGIN)[1:]
    if not blocks:
        return {key_id(k): k for k in [load_public_key(pem)]}  # says why it is no key
    if len(blocks) > PEM_KEY_LIMIT:
        raise ExportInvalidError(f"the file holds more than {PEM_KEY_LIMIT} public keys")
    keys = [load_public_key(PEM_BEGIN + block) for block in blocks]
    return {key_id(k): k for k in keys}


def _time(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(signature: bytes) -> str:
    return base64.b64encode(signature).decode()


def _unb64(text: str) -> bytes:
    """Strict base64: a signature written any other way than ours (other padding, stray
    bits in the last digit) is refused, so no second spelling of it verifies."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ExportInvalidError("the signature is not base64") from exc
    if _b64(raw) != text:
        raise ExportInvalidError("the signature is not written as exported")
    return raw


def _policy_versions(records: Sequence[ExportedRecord]) -> list[dict[str, Any]]:
    counted = Counter((r.policy_version, r.text_sha256) for r in records)
    return [
        {"version": version, "text_sha256": digest, "records": n}
        for (version, digest), n in sorted(counted.items())
    ]


def _record_json(record: ExportedRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "given_at": _time(record.given_at),
        "ended_at": _time(record.ended_at),
        "method": record.method,
        "categories": list(record.categories),
        "policy_version": record.policy_version,
        "text_sha256": record.text_sha256,
        "replaces": record.replaces,
        "ip_truncated": record.ip_truncated,
        "user_agent": record.user_agent,
    }


def _window_json(window: ExportWindow) -> dict[str, str | None]:
    return {
        "exported_at": _time(window.exported_at),
        "since": _time(window.since),
        "until": _time(window.until),
        "next_since": _time(window.next_since),
    }


def build_json(
    records: Sequence[ExportedRecord], window: ExportWindow, private_key: Ed25519PrivateKey
) -> bytes:
    """The signed JSON export of ``records``."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        **_window_json(window),
        "count": len(records),
        "policy_versions": _policy_versions(records),
        "records": [_record_json(r) for r in records],
    }
    signature = {
        "alg": ALG,
        "key_id": key_id(private_key.public_key()),
        "value": _b64(private_key.sign(_canonical(payload))),
    }
    return _canonical({"payload": payload, "signature": signature}) + b"\n"


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def build_csv(
    records: Sequence[ExportedRecord], window: ExportWindow, private_key: Ed25519PrivateKey
) -> bytes:
    """The signed CSV export of ``records``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    meta = _window_json(window)
    writer.writerow(
        ["#consent-export", FORMAT, *(f"{k}={v or ''}" for k, v in meta.items())]
        + [f"count={len(records)}"]
    )
    writer.writerow(CSV_HEADER)
    for r in records:
        writer.writerow(
            [
                r.id,
                _time(r.given_at),
                _time(r.ended_at) or "",
                r.method,
                " ".join(r.categories),
                r.policy_version,
                r.text_sha256,
                r.replaces or "",
                r.ip_truncated,
                _cell(r.user_agent),
            ]
        )
    signed = out.getvalue().encode()
    public = private_key.public_key()
    line = f"#signature,{ALG},{key_id(public)},{_b64(private_key.sign(signed))}\n"
    return signed + line.encode()


def build(
    fmt: Format,
    records: Sequence[ExportedRecord],
    window: ExportWindow,
    private_key: Ed25519PrivateKey,
) -> bytes:
    """The signed export in ``fmt``."""
    return (build_json if fmt == "json" else build_csv)(records, window, private_key)


def _check(
    public_key: Ed25519PublicKey, alg: object, kid: object, value: str, signed: bytes
) -> None:
    if alg != ALG:
        raise ExportInvalidError(f"the signature's algorithm is {alg!r}, not {ALG}")
    if kid != key_id(public_key):
        raise ExportInvalidError(
            f"signed with key {kid!r}, not with this public key ({key_id(public_key)})"
        )
    try:
        public_key.verify(_unb64(value), signed)
    except InvalidSignature as exc:
        raise ExportInvalidError("the signature does not match the contents") from exc


def verify_json(data: bytes, public_key: Ed25519PublicKey) -> Verified:
    """Checks a JSON export. Raises ``ExportInvalidError`` with the reason."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportInvalidError("the file is not valid JSON") from exc
    if not isinstance(document, dict) or set(document) != {"payload", "signature"}:
        raise ExportInvalidError("the file is not a consent export (payload and signature)")
    payload, signature = document["payload"], document["signature"]
    if not isinstance(signature, dict) or set(signature) != {"alg", "key_id", "value"}:
        raise ExportInvalidError("the signature object is malformed")
    if not isinstance(signature["value"], str):
        raise ExportInvalidError("the signature is not base64")
    _check(
        public_key, signature["alg"], signature["key_id"], signature["value"], _canonical(payload)
    )
    if _canonical(document) + b"\n" != data:
        raise ExportInvalidError(
            "the signed contents are intact, but the file is not byte for byte as exported "
            "(re-formatted, or edited outside the signed part)"
        )
    records = payload.get("records") if isinstance(payload, dict) else None
    if not isinstance(records, list) or payload.get("count") != len(records):
        raise ExportInvalidError("the payload's count does not match its records")
    return Verified(
        "json", len(records), key_id(public_key), _parse_time(payload.get("exported_at"))
    )


def _csv_signature(data: bytes) -> tuple[bytes, list[str]]:
    """A CSV export's signed bytes and its signature line's four fields."""
    if not data.endswith(b"\n"):
        raise ExportInvalidError("the file does not end with its signature line")
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    signed, line = data[:start], data[start:-1]
    if not line.startswith(SIGNATURE_PREFIX):
        raise ExportInvalidError("the last line is not a #signature line")
    try:
        fields = line.decode("ascii").split(",")
    except UnicodeDecodeError as exc:
        raise ExportInvalidError("the signature line is malformed") from exc
    if len(fields) != 4:
        raise ExportInvalidError("the signature line is malformed")
    return signed, fields


def verify_csv(data: bytes, public_key: Ed25519PublicKey) -> Verified:
    """Checks a CSV export. Raises ``ExportInvalidError`` with the reason."""
    signed, (_, alg, kid, value) = _csv_signature(data)
    _check(public_key, alg, kid, value, signed)
    try:
        rows = list(csv.reader(io.StringIO(signed.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ExportInvalidError("the signed rows are not CSV") from exc
    if len(rows) < 2 or tuple(rows[1]) != CSV_HEADER:
        raise ExportInvalidError("the file is not a consent export (no header row)")
    meta = {name: value for name, _, value in (f.partition("=") for f in rows[0][2:])}
    return Verified("csv", len(rows) - 2, key_id(public_key), _parse_time(meta.get("exported_at")))


def verify(data: bytes, public_key: Ed25519PublicKey) -> Verified:
    """Checks an export, JSON or CSV (told apart by its first byte).

    Raises:
        ExportInvalidError: it does not verify; the message says why.
    """
    if data.startswith(b"{"):
        return verify_json(data, public_key)
    if data.startswith(b"#consent-export,"):
        return verify_csv(data, public_key)
    raise ExportInvalidError("the file is neither a JSON nor a CSV consent export")


def signer_of(data: bytes) -> str:
    """The key id an export names as its signer (not checked: ``verify`` checks).

    Raises:
        ExportInvalidError: the file is no export, or its signature names no key.
    """
    if data.startswith(b"#consent-export,"):
        return _csv_signature(data)[1][2]
    if not data.startswith(b"{"):
        raise ExportInvalidError("the file is neither a JSON nor a CSV consent export")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportInvalidError("the file is not valid JSON") from exc
    signature = document.get("signature") if isinstance(document, dict) else None
    kid = signature.get("key_id") if isinstance(signature, dict) else None
    if not isinstance(kid, str):
        raise ExportInvalidError("the signature names no key")
    return kid


def verify_with(data: bytes, keys: Mapping[str, Ed25519PublicKey]) -> Verified:
    """Checks an export with whichever of ``keys`` (by key id) it names as its signer: the
    service's current key or an earlier one.

    Raises:
        ExportInvalidError: no such key among ``keys``, or it does not verify.
    """
    kid = signer_of(data)
    public_key = keys.get(kid)
    if public_key is None:
        raise ExportInvalidError(f"signed with key {kid!r}, which is not one of this service's")
    return verify(data, public_key)


def is_valid(data: bytes, public_key: Ed25519PublicKey) -> bool:
    """Whether an export verifies (``verify`` says why not)."""
    try:
        verify(data, public_key)
    except ExportInvalidError:
        return False
    return True
