"""The consent export built one record at a time (``ExportBuilder``, issue 16's export in less
memory) is byte for byte the file the first builder made, which built the whole payload and
signed ``json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``:
that builder is kept here, verbatim, as the reference, and both are compared on varied
records (hypothesis: any unicode, quotes, commas, line breaks, formula starts, None fields,
times in other zones, no record or many) in both formats, and on a page cut before its last
instant. Pinned digests of files the first builder made guard the reference itself."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.privacy.test_consent_export import KEY, WINDOW, _records

from callroster.privacy import consent_export
from callroster.privacy.consent_export import (
    ALG,
    CSV_HEADER,
    FORMAT,
    ExportBuilder,
    ExportedRecord,
    ExportWindow,
    build,
    key_id,
    verify,
)

# -- the first builder, as it was (the reference) -------------------------------------------


def _ref_time(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _ref_canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _ref_window(window: ExportWindow) -> dict[str, str | None]:
    return {
        "exported_at": _ref_time(window.exported_at),
        "since": _ref_time(window.since),
        "until": _ref_time(window.until),
        "next_since": _ref_time(window.next_since),
    }


def reference_json(
    records: Sequence[ExportedRecord], window: ExportWindow, private_key: Ed25519PrivateKey
) -> bytes:
    counted = Counter((r.policy_version, r.text_sha256) for r in records)
    payload: dict[str, Any] = {
        "format": FORMAT,
        **_ref_window(window),
        "count": len(records),
        "policy_versions": [
            {"version": version, "text_sha256": digest, "records": n}
            for (version, digest), n in sorted(counted.items())
        ],
        "records": [
            {
                "id": r.id,
                "given_at": _ref_time(r.given_at),
                "ended_at": _ref_time(r.ended_at),
                "method": r.method,
                "categories": list(r.categories),
                "policy_version": r.policy_version,
                "text_sha256": r.text_sha256,
                "replaces": r.replaces,
                "ip_truncated": r.ip_truncated,
                "user_agent": r.user_agent,
            }
            for r in records
        ],
    }
    value = consent_export._b64(private_key.sign(_ref_canonical(payload)))  # noqa: SLF001
    signature = {"alg": ALG, "key_id": key_id(private_key.public_key()), "value": value}
    return _ref_canonical({"payload": payload, "signature": signature}) + b"\n"


def reference_csv(
    records: Sequence[ExportedRecord], window: ExportWindow, private_key: Ed25519PrivateKey
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    meta = _ref_window(window)
    writer.writerow(
        ["#consent-export", FORMAT, *(f"{k}={v or ''}" for k, v in meta.items())]
        + [f"count={len(records)}"]
    )
    writer.writerow(CSV_HEADER)
    for r in records:
        agent = r.user_agent
        writer.writerow(
            [
                r.id,
                _ref_time(r.given_at),
                _ref_time(r.ended_at) or "",
                r.method,
                " ".join(r.categories),
                r.policy_version,
                r.text_sha256,
                r.replaces or "",
                r.ip_truncated,
                "'" + agent if agent.startswith(("=", "+", "-", "@", "\t", "\r")) else agent,
            ]
        )
    signed = out.getvalue().encode()
    signature = consent_export._b64(private_key.sign(signed))  # noqa: SLF001
    line = f"#signature,{ALG},{key_id(private_key.public_key())},{signature}\n"
    return signed + line.encode()


REFERENCE = {"json": reference_json, "csv": reference_csv}

# -- varied records --------------------------------------------------------------------------

ZONES = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
)
MOMENTS = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=ZONES
)
TEXT = st.text(max_size=40)
NASTY = st.one_of(
    TEXT,
    st.sampled_from(
        ['"', '""', ",", "\n", "\r\n", "=1+1", "+x", "-", "@SUM", "\ttab", "\\", "\u2028"]
    ),
    st.text(alphabet=st.sampled_from('",\n\r=\\\t\u00e9\u2713\U0001f600\x00 '), max_size=20),
)
RECORDS = st.builds(
    ExportedRecord,
    id=TEXT,
    given_at=MOMENTS,
    ended_at=st.none() | MOMENTS,
    method=st.sampled_from(["banner", "settings", "gpc", "dnt"]) | TEXT,
    categories=st.lists(TEXT, max_size=4).map(lambda c: tuple(sorted(c))),
    policy_version=st.sampled_from(["2025-1", "2026-2"]) | TEXT,
    text_sha256=st.sampled_from(["ab" * 32, "cd" * 32]) | TEXT,
    replaces=st.none() | TEXT,
    ip_truncated=st.sampled_from(["203.0.113.0", "2001:db8::"]) | TEXT,
    user_agent=NASTY,
)
WINDOWS = st.builds(
    ExportWindow,
    exported_at=MOMENTS,
    since=st.none() | MOMENTS,
    until=st.none() | MOMENTS,
    next_since=st.none() | MOMENTS,
)
FORMATS = st.sampled_from(["json", "csv"])


def _unquoted_return(record: ExportedRecord) -> bool:
    """A field with a carriage return but no line feed, which the csv module writes
    unquoted (with either builder), so that such a CSV does not read back. No HTTP header
    can carry one (a user agent is the only field from outside)."""
    fields = [record.id, record.method, *record.categories, record.policy_version]
    fields += [record.text_sha256, record.replaces or "", record.ip_truncated, record.user_agent]
    return any("\r" in field and "\n" not in field for field in fields)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=FORMATS, records=st.lists(RECORDS, max_size=12), window=WINDOWS)
def test_the_builder_makes_the_reference_bytes(
    fmt: consent_export.Format, records: list[ExportedRecord], window: ExportWindow
) -> None:
    made = build(fmt, records, window, KEY)
    assert bytes(made) == REFERENCE[fmt](records, window, KEY)
    if fmt == "json" or not any(map(_unquoted_return, records)):
        assert verify(made, KEY.public_key()).records == len(records)


@settings(max_examples=200, deadline=None)
@given(
    fmt=FORMATS,
    records=st.lists(RECORDS, max_size=10),
    instants=st.lists(st.integers(0, 3), max_size=10),
    window=WINDOWS,
)
def test_dropping_the_last_instant_leaves_the_reference_bytes_of_the_rest(
    fmt: consent_export.Format,
    records: list[ExportedRecord],
    instants: list[int],
    window: ExportWindow,
) -> None:
    """Records at a few shared instants, oldest first, as the store reads them; the last
    instant is dropped (the page is cut before it), or an instant not last (nothing is)."""
    base = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    steps = sorted(instants + [0] * (len(records) - len(instants)))[: len(records)]
    timed = [
        _at(record, base + dt.timedelta(seconds=step))
        for record, step in zip(records, steps, strict=True)
    ]
    builder = ExportBuilder(fmt)
    for record in timed:
        builder.add(record)
    builder.drop_instant(base - dt.timedelta(seconds=1))  # not the last: nothing dropped
    last = timed[-1].given_at if timed else base
    builder.drop_instant(last)
    kept = [r for r in timed if r.given_at != last]
    assert builder.count == len(kept)
    assert bytes(builder.finish(window, KEY)) == REFERENCE[fmt](kept, window, KEY)


def _at(record: ExportedRecord, moment: dt.datetime) -> ExportedRecord:
    return ExportedRecord(
        id=record.id,
        given_at=moment,
        ended_at=record.ended_at,
        method=record.method,
        categories=record.categories,
        policy_version=record.policy_version,
        text_sha256=record.text_sha256,
        replaces=record.replaces,
        ip_truncated=record.ip_truncated,
        user_agent=record.user_agent,
    )


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_many_records_make_the_reference_bytes(fmt: consent_export.Format) -> None:
    template = _records()
    many = [
        _at(template[n % 2], dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=n))
        for n in range(5_000)
    ]
    assert bytes(build(fmt, many, WINDOW, KEY)) == REFERENCE[fmt](many, WINDOW, KEY)


# What the first builder made of the fixture of test_consent_export.py (before this builder).
PINNED = {
    ("json", 2): "41f3e75bb527c42b50a348f8184e3ece7a4d4d1ccdaa1af13de13c885a63201a",
    ("csv", 2): "206961b8f38b9ab18205d0e6552a08c7072cc9faca9bc7a3c053293a1e30394e",
    ("json", 0): "158d6f8af55283310457a85a456fe810a40e1a0e0a48b370f374f5f6298446a9",
}


@pytest.mark.parametrize(("fmt", "count"), list(PINNED))
def test_files_the_first_builder_made_are_made_again(
    fmt: consent_export.Format, count: int
) -> None:
    records = _records()[:count]
    for made in (build(fmt, records, WINDOW, KEY), REFERENCE[fmt](records, WINDOW, KEY)):
        assert hashlib.sha256(made).hexdigest() == PINNED[(fmt, count)]
