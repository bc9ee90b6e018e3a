"""The signed consent export (issue 16), pure: an export verifies against the key that signed
it; a changed byte anywhere in it (every position is tried, in both formats), a changed
category, time, cell or signature, a signature by another key, a re-formatted or cut file:
each fails, with its reason."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from callroster.privacy import consent_export
from callroster.privacy.consent_export import (
    ExportedRecord,
    ExportInvalidError,
    ExportWindow,
    build,
    is_valid,
    key_id,
    load_public_key,
    load_public_keys,
    public_key_pem,
    signer_of,
    verify,
    verify_with,
)

AT = dt.datetime(2026, 12, 7, 1, 30, 15, 123456, tzinfo=dt.UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _records() -> list[ExportedRecord]:
    return [
        ExportedRecord(
            id="3f2a6c1e-0000-4000-8000-000000000001",
            given_at=AT,
            ended_at=AT + dt.timedelta(days=2),
            method="banner",
            categories=("functionality", "performance"),
            policy_version="2025-1",
            text_sha256="ab" * 32,
            replaces=None,
            ip_truncated="203.0.113.0",
            user_agent='Mozilla/5.0 (X11; "quoted", comma) Gecko/20100101 Firefox/133.0',
        ),
        ExportedRecord(
            id="3f2a6c1e-0000-4000-8000-000000000002",
            given_at=AT + dt.timedelta(days=2),
            ended_at=None,
            method="gpc",
            categories=(),
            policy_version="2025-1",
            text_sha256="ab" * 32,
            replaces="3f2a6c1e-0000-4000-8000-000000000001",
            ip_truncated="2001:db8:abcd::",
            user_agent='=HYPERLINK("http://evil.example") Ünïcode ✓',
        ),
    ]


WINDOW = ExportWindow(exported_at=AT + dt.timedelta(days=3), since=AT)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_export_verifies_against_the_key_that_signed_it(fmt: consent_export.Format) -> None:
    data = build(fmt, _records(), WINDOW, KEY)
    verified = verify(data, KEY.public_key())
    assert (verified.format, verified.records, verified.key_id) == (
        fmt,
        2,
        key_id(KEY.public_key()),
    )
    assert is_valid(data, KEY.public_key())
    # And with the key as PEM, as anyone gets it.
    assert verify(data, load_public_key(public_key_pem(KEY.public_key()).encode())).records == 2


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("flip", [0x01, 0x20, 0x80])
def test_changing_any_one_byte_anywhere_fails(fmt: consent_export.Format, flip: int) -> None:
    data = build(fmt, _records(), WINDOW, KEY)
    public = KEY.public_key()
    still_valid = []
    for position in range(len(data)):
        changed = bytearray(data)
        changed[position] ^= flip
        if is_valid(bytes(changed), public):
            still_valid.append(position)
    assert still_valid == [], [data[p - 5 : p + 5] for p in still_valid]


def test_a_changed_category_time_or_signature_fails_in_json_with_its_reason() -> None:
    data = build("json", _records(), WINDOW, KEY)
    public = KEY.public_key()
    changes = {
        b'"categories":["functionality","performance"]': (
            b'"categories":["functionality","targeting"]'
        ),
        b'"given_at":"2026-12-07T01:30:15.123456Z"': b'"given_at":"2026-12-07T01:30:16.123456Z"',
        b'"ip_truncated":"203.0.113.0"': b'"ip_truncated":"203.0.114.0"',
    }
    for before, after in changes.items():
        assert data.count(before) == 1, before
        with pytest.raises(ExportInvalidError, match="does not match the contents"):
            verify(data.replace(before, after), public)
    document = json.loads(data)
    raw = bytearray(base64.b64decode(document["signature"]["value"]))
    raw[10] ^= 1
    document["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    forged = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(ExportInvalidError, match="does not match"):
        verify(forged.encode() + b"\n", public)


def test_a_re_formatted_json_export_is_refused_though_its_payload_is_intact() -> None:
    data = build("json", _records(), WINDOW, KEY)
    pretty = json.dumps(json.loads(data), indent=2, ensure_ascii=False).encode()
    with pytest.raises(ExportInvalidError, match="not byte for byte"):
        verify(pretty, KEY.public_key())


def test_the_signature_covers_the_canonical_payload_as_the_format_says() -> None:
    # What another tool would do: canonical JSON of payload, Ed25519 verify.
    document = json.loads(build("json", _records(), WINDOW, KEY))
    signed = json.dumps(
        document["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    KEY.public_key().verify(base64.b64decode(document["signature"]["value"]), signed)
    assert document["signature"]["alg"] == "Ed25519"
    assert document["payload"]["policy_versions"] == [
        {"version": "2025-1", "text_sha256": "ab" * 32, "records": 2}
    ]
    assert document["payload"]["count"] == 2 and document["payload"]["next_since"] is None


def test_a_changed_csv_cell_or_signature_fails_and_formulas_are_defused() -> None:
    data = build("csv", _records(), WINDOW, KEY)
    public = KEY.public_key()
    assert b",gpc,," in data  # the second record: no categories
    with pytest.raises(ExportInvalidError, match="does not match the contents"):
        verify(data.replace(b",gpc,,", b",banner,,"), public)
    with pytest.raises(ExportInvalidError, match="does not match the contents"):
        verify(data.replace(b"functionality performance", b"functionality targeting"), public)
    lines = data.split(b"\n")
    assert lines[-1] == b"" and lines[-2].startswith(b"#signature,Ed25519,")
    sig = lines[-2].rsplit(b",", 1)[1]
    raw = bytearray(base64.b64decode(sig))
    raw[0] ^= 1
    forged = data.replace(sig, base64.b64encode(bytes(raw)))
    with pytest.raises(ExportInvalidError, match="does not match"):
        verify(forged, public)
    with pytest.raises(ExportInvalidError, match="signature line"):
        verify(b"\n".join(lines[:-2]) + b"\n", public)  # the signature line cut off
    assert b"'=HYPERLINK" in data  # a spreadsheet shows it, does not run it


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_signature_from_another_key_fails(fmt: consent_export.Format) -> None:
    data = build(fmt, _records(), WINDOW, OTHER)
    with pytest.raises(ExportInvalidError, match="not with this public key"):
        verify(data, KEY.public_key())
    # Even with the other key's id written in, the signature itself does not match.
    relabelled = data.replace(
        key_id(OTHER.public_key()).encode(), key_id(KEY.public_key()).encode()
    )
    with pytest.raises(ExportInvalidError, match="does not match"):
        verify(relabelled, KEY.public_key())


def test_garbage_and_wrong_keys_are_refused_with_reasons() -> None:
    with pytest.raises(ExportInvalidError, match="neither"):
        verify(b"id,given_at\n", KEY.public_key())
    with pytest.raises(ExportInvalidError, match="not valid JSON"):
        verify(b"{not json", KEY.public_key())
    with pytest.raises(ExportInvalidError, match="not a PEM"):
        load_public_key(b"-----BEGIN NOTHING-----")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_export_names_its_signer_and_is_checked_by_that_key_among_several(
    fmt: consent_export.Format,
) -> None:
    data = build(fmt, _records(), WINDOW, OTHER)
    assert signer_of(data) == key_id(OTHER.public_key())
    both = {key_id(k.public_key()): k.public_key() for k in (KEY, OTHER)}
    verified = verify_with(data, both)
    assert (verified.key_id, verified.exported_at) == (
        key_id(OTHER.public_key()),
        WINDOW.exported_at,
    )
    with pytest.raises(ExportInvalidError, match="not one of this service's"):
        verify_with(data, {key_id(KEY.public_key()): KEY.public_key()})
    # A file of several keys (``public-key --all``: comment lines between PEM blocks).
    pem = "".join(
        f"# key {key_id(k.public_key())}\n{public_key_pem(k.public_key())}" for k in (KEY, OTHER)
    )
    assert load_public_keys(pem.encode()) == both
    assert load_public_keys(public_key_pem(KEY.public_key()).encode()) == {
        key_id(KEY.public_key()): KEY.public_key()
    }
    with pytest.raises(ExportInvalidError, match="not a PEM"):
        load_public_keys(b"# nothing here")
    with pytest.raises(ExportInvalidError, match="neither"):
        signer_of(b"id,given_at\n")
