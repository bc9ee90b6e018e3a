"""``callroster consent ...`` as an operator and an auditor run it, each command its own
process on a data folder: the export made at the server verifies with the service's key and
with its public key alone (``--public-key``); a changed byte or another key's PEM exits 1
with the reason."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from tests.support.cli import runner

from callroster.config import load_settings
from callroster.privacy.consent_export import public_key_pem
from callroster.privacy.consent_record import ConsentGiven, ConsentMethod
from callroster.store.models import AuditEntry
from callroster.store.store import open_store


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    return runner().run(list(args), env)


def _seed(data: Path, n: int) -> None:
    store = open_store(load_settings(data=data))
    try:
        for i in range(n):
            store.consent_records.add(
                ConsentGiven(
                    optional=frozenset({"functionality"}),
                    policy_version="2025-1",
                    text_sha256="ef" * 32,
                    given_at=dt.datetime.now(dt.UTC),
                    method=ConsentMethod.SETTINGS,
                    ip_truncated=f"192.0.2.{i}",
                    user_agent="CliTest/1.0",
                )
            )
    finally:
        store.close()


def test_export_verify_and_public_key_at_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _seed(data, 3)
    for fmt in ("json", "csv"):
        out = tmp_path / f"export.{fmt}"
        made = _run("consent", "export", "--format", fmt, "--out", str(out), "--data", str(data))
        assert made.returncode == 0, made.stderr
        assert "3 records" in made.stderr
        checked = _run("consent", "verify", str(out), "--data", str(data))
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.startswith(f"valid: 3 records ({fmt}, key ")

    key = _run("consent", "public-key", "--data", str(data))
    assert key.returncode == 0 and key.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert key.stderr.startswith("key id ")
    pem = tmp_path / "consent.pem"
    pem.write_text(key.stdout)
    # An auditor: the file and the public key, no data folder.
    alone = _run("consent", "verify", str(tmp_path / "export.csv"), "--public-key", str(pem))
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.startswith("valid: 3 records")

    tampered = tmp_path / "tampered.csv"
    tampered.write_bytes((tmp_path / "export.csv").read_bytes().replace(b"192.0.2.1", b"192.0.2.7"))
    bad = _run("consent", "verify", str(tampered), "--public-key", str(pem))
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == "invalid: the signature does not match the contents"

    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    wrong = _run("consent", "verify", str(tmp_path / "export.json"), "--public-key", str(other))
    assert wrong.returncode == 1 and "not with this public key" in wrong.stderr

    missing = _run("consent", "verify", str(tmp_path / "nope.json"), "--public-key", str(pem))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_rotate_key_then_old_and_new_exports_verify_each_by_its_own_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _seed(data, 2)
    old_export = tmp_path / "old.csv"
    made = _run(
        "consent", "export", "--format", "csv", "--out", str(old_export), "--data", str(data)
    )
    assert made.returncode == 0, made.stderr
    old_id = _run("consent", "public-key", "--data", str(data)).stderr.split()[-1]

    rotated = _run("consent", "rotate-key", "--data", str(data))
    assert rotated.returncode == 0, rotated.stderr
    assert f"{old_id} retired" in rotated.stdout and "private key destroyed" in rotated.stdout
    new_id = _run("consent", "public-key", "--data", str(data)).stderr.split()[-1]
    assert new_id != old_id and f"{new_id} signs from now on" in rotated.stdout

    new_export = tmp_path / "new.json"
    made = _run("consent", "export", "--out", str(new_export), "--data", str(data))
    assert made.returncode == 0, made.stderr
    new = _run("consent", "verify", str(new_export), "--data", str(data))
    assert new.returncode == 0, new.stderr
    assert new.stdout.strip() == f"valid: 2 records (json, key {new_id}, the current key)"
    old = _run("consent", "verify", str(old_export), "--data", str(data))
    assert old.returncode == 0, old.stderr
    assert old.stdout.startswith(f"valid: 2 records (csv, key {old_id}, signing since ")
    assert ", retired " in old.stdout

    every = _run("consent", "public-key", "--all", "--data", str(data))
    assert every.returncode == 0 and every.stdout.count("-----BEGIN PUBLIC KEY-----") == 2
    assert every.stdout.startswith(f"# key {new_id}: ") and f"# key {old_id}: " in every.stdout
    keys = tmp_path / "all.pem"
    keys.write_text(every.stdout)
    current = tmp_path / "current.pem"
    current.write_text(_run("consent", "public-key", "--data", str(data)).stdout)
    # An auditor with the file of every key checks both; with the current key alone, not the old.
    for export in (old_export, new_export):
        alone = _run("consent", "verify", str(export), "--public-key", str(keys))
        assert alone.returncode == 0, alone.stderr
    stale = _run("consent", "verify", str(old_export), "--public-key", str(current))
    assert stale.returncode == 1 and "not with this public key" in stale.stderr

    changed = tmp_path / "changed.csv"
    changed.write_bytes(old_export.read_bytes().replace(b"192.0.2.1", b"192.0.2.7"))
    bad = _run("consent", "verify", str(changed), "--data", str(data))
    assert bad.returncode == 1 and "does not match" in bad.stderr

    store = open_store(load_settings(data=data))
    try:
        with store.sessions() as session:
            entries = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "consent_signing.rotate")
            ).all()
    finally:
        store.close()
    assert [(e.actor, e.source, e.reason, e.subject) for e in entries] == [
        ("operator:cli", "cli", "consent rotate-key", f"consent_signing_key:{old_id}->{new_id}")
    ]
