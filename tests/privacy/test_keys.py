from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from callroster.errors import MasterKeyError
from callroster.privacy.keys import (
    BlindIndex,
    DecryptionError,
    FieldCipher,
    MasterKeyRing,
    new_data_key,
    new_master_key,
    read_key_ring,
    write_key_ring,
)


def test_field_round_trip_and_ciphertext_hides_plaintext() -> None:
    cipher = FieldCipher("acct-1", new_data_key())
    blob = cipher.encrypt("users.phone", "+442079460001")
    assert b"442079460001" not in blob
    assert cipher.decrypt("users.phone", blob) == "+442079460001"
    # Random nonces: the same value encrypts differently each time (no equality leak).
    assert cipher.encrypt("users.phone", "+442079460001") != blob


def test_ciphertext_is_bound_to_field_and_account() -> None:
    key = new_data_key()
    blob = FieldCipher("acct-1", key).encrypt("users.phone", "+442079460001")
    with pytest.raises(DecryptionError):
        FieldCipher("acct-1", key).decrypt("users.email", blob)
    with pytest.raises(DecryptionError):
        FieldCipher("acct-2", key).decrypt("users.phone", blob)
    with pytest.raises(DecryptionError):
        FieldCipher("acct-1", new_data_key()).decrypt("users.phone", blob)


def test_tampered_ciphertext_is_refused() -> None:
    cipher = FieldCipher("acct-1", new_data_key())
    blob = bytearray(cipher.encrypt("users.name", "Ada Lovelace"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        cipher.decrypt("users.name", bytes(blob))
    with pytest.raises(DecryptionError):
        cipher.decrypt("users.name", b"\x01short")


def test_wrap_unwrap_with_key_ring_and_rotation_order() -> None:
    old, new = new_master_key(), new_master_key()
    ring = MasterKeyRing([old])
    key_id, blob = ring.wrap(b"k" * 32, "account:a")
    assert key_id == old.key_id
    rotated = ring.with_current(new)
    assert rotated.current.key_id == new.key_id
    assert rotated.unwrap(key_id, blob, "account:a") == b"k" * 32
    with pytest.raises(MasterKeyError, match="does not unwrap"):
        rotated.unwrap(key_id, blob, "account:b")
    with pytest.raises(MasterKeyError, match="not in the key ring"):
        MasterKeyRing([new]).unwrap(key_id, blob, "account:a")


def test_key_ring_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    ring = MasterKeyRing([new_master_key(), new_master_key()])
    write_key_ring(path, ring)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_key_ring(path).key_ids == ring.key_ids
    os.chmod(path, 0o644)
    with pytest.raises(MasterKeyError, match="readable by others"):
        read_key_ring(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no master key"),
        ("# only a comment\n", "holds no master key"),
        ("k1:not base64!!", "not base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "must be 32 bytes"),
    ],
)
def test_bad_key_ring_text_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(MasterKeyError, match=message):
        MasterKeyRing.parse(text, source="test")


def test_bare_base64_key_gets_a_stable_id() -> None:
    """The id is derived from the key itself (not drawn at random, nor from where it came),
    so ciphertext written under it can name it after a restart; another key, another id."""
    text = base64.b64encode(b"x" * 32).decode()
    [key_id] = MasterKeyRing.parse(text, source="env").key_ids
    assert key_id == hashlib.sha256(b"x" * 32).hexdigest()[:8]
    assert MasterKeyRing.parse(text + "\n", source="file").key_ids == [key_id]
    other = base64.b64encode(b"y" * 32).decode()
    assert MasterKeyRing.parse(other, source="env").key_ids != [key_id]


def test_reprs_never_show_key_material() -> None:
    key = new_master_key()
    assert base64.b64encode(key.secret).decode() not in repr(key)
    assert "***" in repr(FieldCipher("a", b"k" * 32))
    assert "***" in repr(BlindIndex(b"k" * 32))


def test_blind_index_is_keyed_and_domain_separated() -> None:
    one, two = BlindIndex(b"1" * 32), BlindIndex(b"2" * 32)
    assert one.of("phone", "+442079460001") == one.of("phone", "+442079460001")
    assert one.of("phone", "+442079460001") != two.of("phone", "+442079460001")
    assert one.of("phone", "12345678") != one.of("pin", "12345678")
