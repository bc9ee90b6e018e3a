"""Rotating the key consent exports are signed with (issue 16), on SQLite and PostgreSQL: after
a rotation exports are signed with the new key and never the old one (which did sign before);
an export made before still verifies, by the key it names, and the check says it was the
earlier key; a changed, re-signed or late-dated export fails; the old private key is nowhere
in the store any more (with the positive control that it was); a second node signs with the
new key at once; a rotation waits for an export being signed; it is the operator's alone, and
audit-logged with both key ids and no secret; a master key rotation re-wraps the kept keys."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from tests.conftest import FakeClock

from callroster.accounts.actor import operator_cli, system
from callroster.config import Settings
from callroster.errors import AccessDeniedError
from callroster.privacy import consent_export
from callroster.privacy.consent_export import ExportInvalidError, key_id, signer_of, verify
from callroster.privacy.consent_record import ConsentGiven, ConsentMethod
from callroster.store.consent_signing import CURRENT, ROTATE_ACTION
from callroster.store.models import AuditEntry, PlatformKey
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("consent signing tests")


def _seed(store: Store, clock: FakeClock, n: int) -> None:
    for i in range(n):
        store.consent_records.add(
            ConsentGiven(
                optional=frozenset({"performance"}),
                policy_version="2025-1",
                text_sha256="ab" * 32,
                given_at=clock(),
                method=ConsentMethod.BANNER,
                ip_truncated=f"192.0.2.{i}",
                user_agent="SigningTest/1.0",
            )
        )
        clock.advance(seconds=1)


def _export(store: Store, fmt: consent_export.Format = "json") -> bytes:
    return store.consent_records.signed_export(OPERATOR, fmt).data


def _unwrapped(store: Store) -> list[bytes]:
    """Every platform key in the database, unwrapped."""
    with store.sessions() as session:
        rows = session.scalars(select(PlatformKey)).all()
        return [store.keys.unwrap_platform(r.purpose, r.master_key_id, r.wrapped_key) for r in rows]


def test_after_rotation_exports_are_signed_by_the_new_key_and_old_ones_still_verify(
    store: Store, clock: FakeClock
) -> None:
    _seed(store, clock, 3)
    before = {fmt: _export(store, fmt) for fmt in ("json", "csv")}
    old = store.consent_records.public_key()
    old_id = key_id(old)
    # Positive control: before the rotation the service signs with the old key.
    for data in before.values():
        assert signer_of(data) == old_id and verify(data, old).records == 3
        verified, signer = store.consent_records.signing_keys.verify(data)
        assert signer.key_id == old_id and signer.current

    clock.advance(minutes=5)
    rotation = store.consent_records.signing_keys.rotate(OPERATOR)
    assert rotation.old_key_id == old_id and rotation.new_key_id != old_id
    assert rotation.at == clock()
    new = store.consent_records.public_key()
    assert key_id(new) == rotation.new_key_id

    for fmt in ("json", "csv"):
        after = _export(store, fmt)  # type: ignore[arg-type]
        assert signer_of(after) == rotation.new_key_id
        assert verify(after, new).records == 3
        with pytest.raises(ExportInvalidError, match="not with this public key"):
            verify(after, old)
        verified, signer = store.consent_records.signing_keys.verify(after)
        assert (verified.key_id, signer.current) == (rotation.new_key_id, True)
        # The export made before still verifies, by the earlier key it names.
        verified, signer = store.consent_records.signing_keys.verify(before[fmt])
        assert (verified.records, verified.key_id) == (3, old_id)
        assert not signer.current and signer.retired_at == rotation.at

    keys = store.consent_records.signing_keys.all()
    assert [(k.key_id, k.retired_at) for k in keys] == [
        (rotation.new_key_id, None),
        (old_id, rotation.at),
    ]
    assert keys[1].since < rotation.at == keys[0].since


def test_a_changed_re_signed_or_late_dated_export_fails(store: Store, clock: FakeClock) -> None:
    _seed(store, clock, 2)
    before = _export(store)
    with store.sessions() as session:  # the old private key, as if it had leaked
        leaked = store.consent_records.signing_keys.signer(session)
    store.consent_records.signing_keys.rotate(OPERATOR)
    signing_keys = store.consent_records.signing_keys

    changed = before.replace(b"192.0.2.1", b"192.0.2.9")
    assert changed != before
    with pytest.raises(ExportInvalidError, match="does not match"):
        signing_keys.verify(changed)
    with pytest.raises(ExportInvalidError, match="not one of this service's"):
        signing_keys.verify(_resigned(before, Ed25519PrivateKey.generate(), clock()))
    # The leaked old key signs an export dated after its retirement: refused.
    late = _resigned(before, leaked, clock() + dt.timedelta(hours=1))
    with pytest.raises(ExportInvalidError, match="retired at"):
        signing_keys.verify(late)
    # Positive control: the same re-signing, dated before the retirement, verifies.
    assert signing_keys.verify(_resigned(before, leaked, clock()))[0].records == 2


def _resigned(data: bytes, key: Ed25519PrivateKey, exported_at: dt.datetime) -> bytes:
    """``data``'s records in a new JSON export signed by ``key``."""
    payload = json.loads(data)["payload"]
    records = [
        consent_export.ExportedRecord(
            id=r["id"],
            given_at=dt.datetime.fromisoformat(r["given_at"]),
            ended_at=None,
            method=r["method"],
            categories=tuple(r["categories"]),
            policy_version=r["policy_version"],
            text_sha256=r["text_sha256"],
            replaces=r["replaces"],
            ip_truncated=r["ip_truncated"],
            user_agent=r["user_agent"],
        )
        for r in payload["records"]
    ]
    return consent_export.build_json(records, consent_export.ExportWindow(exported_at), key)


def test_the_old_private_key_is_gone_from_the_store_after_rotation(store: Store) -> None:
    _export(store)
    old_seed = store.keys.platform_seed(CURRENT)
    assert old_seed in _unwrapped(store)  # positive control: the scan finds it while current
    store.consent_records.signing_keys.rotate(OPERATOR)
    kept = _unwrapped(store)
    assert old_seed not in kept
    assert all(old_seed not in blob for blob in kept)
    with store.sessions() as session:
        current = store.consent_records.signing_keys.signer(session)
    assert Ed25519PrivateKey.from_private_bytes(old_seed).public_key() != current.public_key()


def test_a_second_node_signs_with_the_new_key_as_soon_as_one_rotates(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    _seed(store, clock, 1)
    node2 = open_store(settings, clock=clock)
    try:
        old_id = signer_of(_export(node2))
        assert signer_of(_export(store)) == old_id  # both nodes sign with one key
        assert key_id(node2.consent_records.public_key()) == old_id
        rotation = store.consent_records.signing_keys.rotate(OPERATOR)
        assert signer_of(_export(node2)) == rotation.new_key_id
        assert key_id(node2.consent_records.public_key()) == rotation.new_key_id
        # And the other way round: the second node rotates, the first signs with its key.
        again = node2.consent_records.signing_keys.rotate(OPERATOR)
        assert again.old_key_id == rotation.new_key_id
        assert signer_of(_export(store)) == again.new_key_id
        assert [k.key_id for k in store.consent_records.signing_keys.all()] == [
            again.new_key_id,
            rotation.new_key_id,
            old_id,
        ]
    finally:
        node2.close()


def test_a_rotation_waits_for_an_export_being_signed(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    _seed(store, clock, 1)
    store.consent_records.signing_keys.ensure()
    node2 = open_store(settings, clock=clock)
    rotated = threading.Event()
    failed: list[BaseException] = []

    def rotate() -> None:
        try:
            node2.consent_records.signing_keys.rotate(OPERATOR)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)
        rotated.set()

    try:
        with store.sessions.begin() as session:
            signer = store.consent_records.signing_keys.signer(session)
            thread = threading.Thread(target=rotate)
            thread.start()
            # The rotation cannot commit while this transaction holds the key.
            assert not rotated.wait(1.0)
            signed_id = key_id(signer.public_key())
        assert rotated.wait(30) and failed == []
        thread.join(30)
        assert store.consent_records.signing_keys.current().key_id != signed_id
    finally:
        node2.close()


def test_only_the_operator_rotates_and_each_rotation_is_audited_without_secrets(
    store: Store,
) -> None:
    with pytest.raises(AccessDeniedError):
        store.consent_records.signing_keys.rotate(system("not an operator"))
    old_seed = store.keys.platform_seed(CURRENT)
    rotation = store.consent_records.signing_keys.rotate(OPERATOR)
    with store.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == ROTATE_ACTION)
        ).all()
    assert [(e.actor, e.subject, e.at) for e in entries] == [
        (
            OPERATOR.label,
            f"consent_signing_key:{rotation.old_key_id}->{rotation.new_key_id}",
            rotation.at.replace(microsecond=0),
        )
    ]
    assert old_seed.hex() not in repr(entries[0].__dict__)


def test_a_master_key_rotation_keeps_old_exports_verifiable(store: Store, clock: FakeClock) -> None:
    _seed(store, clock, 1)
    before = _export(store)
    rotation = store.consent_records.signing_keys.rotate(OPERATOR)
    store.keys.rotate_master_key()
    store.keys.forget_platform_key(CURRENT)
    verified, signer = store.consent_records.signing_keys.verify(before)
    assert signer.key_id == rotation.old_key_id and verified.records == 1
    assert signer_of(_export(store)) == rotation.new_key_id
