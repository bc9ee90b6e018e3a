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

**Built one record at a time** (``ExportBuilder``): each record becomes its bytes as it is
added, in one buffer that becomes the file, so an export of 100,000 records holds about the
file (tens of MB) rather than its records, a payload, its text and its bytes all at once; the
bytes are the same as building the payload whole and dumping it as above.

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
from collections.abc import Iterable, Mapping
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


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_RECORDS_SLOT = b'"records":[]'


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


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_row(record: ExportedRecord) -> list[str]:
    return [
        record.id,
        _time(record.given_at) or "",
        _time(record.ended_at) or "",
        record.method,
        " ".join(record.categories),
        record.policy_version,
        record.text_sha256,
        record.replaces or "",
        record.ip_truncated,
        _cell(record.user_agent),
    ]


class ExportBuilder:
    """A signed export made one record at a time, in the least memory: each record is turned
    into its bytes as it is added (its canonical JSON, or its CSV line) and appended to one
    buffer, which becomes the file; no list of records, payload object or second copy of
    the text is ever held. The bytes are exactly those of the canonical form the module
    docstring describes (JSON is compositional: a list's canonical form is its items'
    canonical forms joined by commas; the parts before the records, which hold the count and
    the policy versions, are put in front when the export is finished).

    ``drop_instant`` takes back the last records added if they were given at one instant
    (the store cuts a page so that no instant is split across two).
    """

    def __init__(self, fmt: Format) -> None:
        self.format: Format = fmt
        self._body = bytearray()
        self._count = 0
        self._versions: Counter[tuple[str, str]] = Counter()
        self._run_at: dt.datetime | None = None  # the last record's instant
        self._run_start = 0  # where the records given at that instant start in the body
        self._run_versions: list[tuple[str, str]] = []
        if fmt == "csv":
            self._line = io.StringIO()
            self._writer = csv.writer(self._line, lineterminator="\n")

    @property
    def count(self) -> int:
        """How many records the export holds so far."""
        return self._count

    def add(self, record: ExportedRecord) -> None:
        """Appends one record (records come oldest first, as the export lists them)."""
        if record.given_at != self._run_at:
            self._run_at, self._run_start, self._run_versions = (
                record.given_at,
                len(self._body),
                [],
            )
        version = (record.policy_version, record.text_sha256)
        self._versions[version] += 1
        self._run_versions.append(version)
        self._count += 1
        if self.format == "json":
            if self._body:
                self._body += b","
            self._body += _ENCODER.encode(_record_json(record)).encode()
        else:
            self._writer.writerow(_csv_row(record))
            self._body += self._line.getvalue().encode()
            self._line.seek(0)
            self._line.truncate()

    def drop_instant(self, instant: dt.datetime) -> None:
        """Takes back the last records added if they were given at ``instant``."""
        if self._run_at != instant or not self._run_versions:
            return
        del self._body[self._run_start :]  # from the comma before them, if any
        self._versions.subtract(self._run_versions)
        self._versions = +self._versions  # counts that reached nothing are gone
        self._count -= len(self._run_versions)
        self._run_at, self._run_versions = None, []

    def _policy_versions(self) -> list[dict[str, Any]]:
        return [
            {"version": version, "text_sha256": digest, "records": n}
            for (version, digest), n in sorted(self._versions.items())
        ]

    def finish(self, window: ExportWindow, private_key: Ed25519PrivateKey) -> bytearray:
        """The signed file (the builder's buffer itself: add nothing more)."""
        if self.format == "json":
            return self._finish_json(window, private_key)
        return self._finish_csv(window, private_key)

    def _finish_json(self, window: ExportWindow, private_key: Ed25519PrivateKey) -> bytearray:
        payload: dict[str, Any] = {
            "format": FORMAT,
            **_window_json(window),
            "count": self._count,
            "policy_versions": self._policy_versions(),
            "records": [],
        }
        head, slot, tail = _canonical(payload).partition(_RECORDS_SLOT)
        assert slot, "the payload has its records"
        document = self._body
        self._body = bytearray()
        prefix = b'{"payload":' + head + b'"records":['
        document[0:0] = prefix  # moves the records up in place (no second copy of them)
        document += b"]" + tail
        with memoryview(document) as whole, whole[len(b'{"payload":') :] as signed:
            value = _b64(private_key.sign(signed))  # the payload where it lies
        signature = {"alg": ALG, "key_id": key_id(private_key.public_key()), "value": value}
        document += b',"signature":' + _canonical(signature) + b"}\n"
        return document

    def _finish_csv(self, window: ExportWindow, private_key: Ed25519PrivateKey) -> bytearray:
        meta = _window_json(window)
        self._writer.writerow(
            ["#consent-export", FORMAT, *(f"{k}={v or ''}" for k, v in meta.items())]
            + [f"count={self._count}"]
        )
        self._writer.writerow(CSV_HEADER)
        document = self._body
        self._body = bytearray()
        document[0:0] = self._line.getvalue().encode()
        public = private_key.public_key()
        line = f"#signature,{ALG},{key_id(public)},{_b64(private_key.sign(document))}\n"
        document += line.encode()
        return document


def build(
    fmt: Format,
    records: Iterable[ExportedRecord],
    window: ExportWindow,
    private_key: Ed25519PrivateKey,
) -> bytearray:
    """The signed export of ``records`` in ``fmt``."""
    builder = ExportBuilder(fmt)
    for record in records:
        builder.add(record)
    return builder.finish(window, private_key)


def build_json(
    records: Iterable[ExportedRecord], window: ExportWindow, private_key: Ed25519PrivateKey
) -> bytearray:
    """The signed JSON export of ``records``."""
    return build("json", records, window, private_key)


def build_csv(
    records: Iterable[ExportedRecord], window: ExportWindow, private_key: Ed25519PrivateKey
) -> bytearray:
    """The signed CSV export of ``records``."""
    return build("csv", records, window, private_key)


def _check(
    public_key: Ed25519PublicKey, alg: object, kid: object, value: str, signed: bytes | bytearray
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


def verify_json(data: bytes | bytearray, public_key: Ed25519PublicKey) -> Verified:
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


def _csv_signature(data: bytes | bytearray) -> tuple[bytes | bytearray, list[str]]:
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


def verify_csv(data: bytes | bytearray, public_key: Ed25519PublicKey) -> Verified:
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


def verify(data: bytes | bytearray, public_key: Ed25519PublicKey) -> Verified:
    """Checks an export, JSON or CSV (told apart by its first byte).

    Raises:
        ExportInvalidError: it does not verify; the message says why.
    """
    if data.startswith(b"{"):
        return verify_json(data, public_key)
    if data.startswith(b"#consent-export,"):
        return verify_csv(data, public_key)
    raise ExportInvalidError("the file is neither a JSON nor a CSV consent export")


def signer_of(data: bytes | bytearray) -> str:
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


def verify_with(data: bytes | bytearray, keys: Mapping[str, Ed25519PublicKey]) -> Verified:
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


def is_valid(data: bytes | bytearray, public_key: Ed25519PublicKey) -> bool:
    """Whether an export verifies (``verify`` says why not)."""
    try:
        verify(data, public_key)
    except ExportInvalidError:
        return False
    return True
