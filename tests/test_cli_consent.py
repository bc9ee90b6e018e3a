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
from tests.support.cli import runner

from callroster.config import load_settings
from callroster.privacy.consent_export import public_key_pem
from callroster.privacy.consent_record import ConsentGiven, ConsentMethod
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
