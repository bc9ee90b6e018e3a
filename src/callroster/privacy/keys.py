"""Keys and the encryption of personal data. Pure crypto: no database, no clock.

Three layers (envelope encryption, as in Fides and every KMS):

* the **master key ring** (file ``<data>/master.key`` mode 0600, or ``CALLROSTER_MASTER_KEY``):
  one or more 256-bit keys, the first is current; older ones only unwrap during rotation;
* a **data key** per account (and one platform key for blind indexes), random 256-bit,
  stored in the database only *wrapped* (AES-GCM) by a master key;
* **fields**: every name, number and email is AES-GCM ciphertext under its account's data
  key, with the field's place (``users.email``) and the account id as associated data, so a
  ciphertext copied to another column or account does not decrypt.

Destroying an account's wrapped data key makes all its personal data unreadable
(crypto-shredding).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callroster.errors import MasterKeyError

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_V1 = b"\x01"


class DecryptionError(Exception):
    """A ciphertext did not authenticate under the key and context given."""


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_V1:
        raise DecryptionError("not a Callroster ciphertext")
    nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not authenticate") from exc


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    secret: bytes = b""

    def __repr__(self) -> str:  # never print key material
        return f"MasterKey(key_id={self.key_id!r}, secret=***)"


def new_master_key() -> MasterKey:
    return MasterKey(key_id=secrets.token_hex(4), secret=secrets.token_bytes(KEY_BYTES))


class MasterKeyRing:
    """The master keys: the first wraps new data keys, all of them unwrap."""

    def __init__(self, keys: list[MasterKey]) -> None:
        if not keys:
            raise MasterKeyError("master key ring is empty")
        ids = [k.key_id for k in keys]
        if len(set(ids)) != len(ids):
            raise MasterKeyError("master key ring has two keys with the same id")
        self._keys = {k.key_id: k for k in keys}
        self._order = ids

    @property
    def current(self) -> MasterKey:
        return self._keys[self._order[0]]

    @property
    def key_ids(self) -> list[str]:
        return list(self._order)

    def has(self, key_id: str) -> bool:
        return key_id in self._keys

    def with_current(self, key: MasterKey) -> MasterKeyRing:
        """A ring with ``key`` in front and every key of this one behind it."""
        return MasterKeyRing([key, *(self._keys[i] for i in self._order)])

    def wrap(self, data_key: bytes, context: str) -> tuple[str, bytes]:
        """Wrap a data key under the current master key. Returns (master key id, blob)."""
        current = self.current
        return current.key_id, _seal(current.secret, data_key, b"wrap:" + context.encode())

    def unwrap(self, key_id: str, blob: bytes, context: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise MasterKeyError(
                f"master key {key_id!r} is not in the key ring; was the key file replaced?"
            )
        try:
            return _open(key.secret, blob, b"wrap:" + context.encode())
        except DecryptionError as exc:
            raise MasterKeyError(f"master key {key_id!r} does not unwrap {context}") from exc

    def serialise(self) -> str:
        lines = [
            f"{k.key_id}:{base64.b64encode(self._keys[k.key_id].secret).decode()}"
            for k in (self._keys[i] for i in self._order)
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str, *, source: str) -> MasterKeyRing:
        """Parse ``id:base64`` lines (``#`` comments allowed); a bare base64 key gets an id."""
        keys: list[MasterKey] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key_id, _, encoded = line.rpartition(":")
            try:
                secret = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MasterKeyError(f"{source} line {number}: key is not base64") from exc
            if len(secret) != KEY_BYTES:
                raise MasterKeyError(f"{source} line {number}: key must be {KEY_BYTES} bytes")
            keys.append(MasterKey(key_id or hashlib.sha256(secret).hexdigest()[:8], secret))
        if not keys:
            raise MasterKeyError(f"{source} holds no master key")
        return cls(keys)


def write_key_ring(path: Path, ring: MasterKeyRing) -> None:
    """Write a key ring with mode 0600, atomically (a reader sees the old or the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(ring.serialise())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_key_ring(path: Path) -> MasterKeyRing:
    """Read a key ring file, refusing one that others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise MasterKeyError(f"master key file {path} does not exist") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyError(
            f"master key file {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
            "chmod 600 it"
        )
    try:
        text = path.read_text()
    except OSError as exc:
        raise MasterKeyError(f"cannot read master key file {path}: {exc.strerror}") from exc
    return MasterKeyRing.parse(text, source=str(path))


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


class FieldCipher:
    """Encrypts one account's personal-data fields under its data key."""

    def __init__(self, account_id: str, data_key: bytes) -> None:
        self.account_id = account_id
        self._key = data_key

    def _aad(self, field: str) -> bytes:
        return f"field:{field}:account:{self.account_id}".encode()

    def encrypt(self, field: str, value: str) -> bytes:
        return _seal(self._key, value.encode("utf-8"), self._aad(field))

    def decrypt(self, field: str, blob: bytes) -> str:
        return _open(self._key, blob, self._aad(field)).decode("utf-8")

    def encrypt_optional(self, field: str, value: str | None) -> bytes | None:
        return None if value is None else self.encrypt(field, value)

    def decrypt_optional(self, field: str, blob: bytes | None) -> str | None:
        return None if blob is None else self.decrypt(field, blob)

    def encrypt_bytes(self, field: str, value: bytes) -> bytes:
        return _seal(self._key, value, self._aad(field))

    def decrypt_bytes(self, field: str, blob: bytes) -> bytes:
        return _open(self._key, blob, self._aad(field))

    def __repr__(self) -> str:
        return f"FieldCipher(account_id={self.account_id!r}, key=***)"


class BlindIndex:
    """Keyed HMAC of a *normalised* value, so look-ups never need the plaintext in the store.

    One platform-wide key, because a caller's number is looked up across accounts (a
    registered user of any account). Each kind of value has its own domain prefix, so a PIN's
    index never equals a phone number's.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def of(self, kind: str, normalised: str) -> bytes:
        return hmac.new(self._key, f"{kind}\x00{normalised}".encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "BlindIndex(key=***)"
