"""Wrapped data keys in the database, and the master key ring they are wrapped by.

Platform keys (the blind-index key, the key of SIP trunk secrets) are wrapped the same way
under the context ``platform:<purpose>`` and are re-wrapped by the same rotation.

Rotation without downtime: ``rotate_master_key`` puts a new key at the front of the ring
file (old keys stay, so everything still unwraps), re-wraps every data key under it, then
retires the old keys. A running service notices the ring file changed (its mtime) and reloads
it before wrapping or when a key id is unknown, so it never wraps under a retired key.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from callroster.errors import DataKeyDestroyedError, MasterKeyError, NotFoundError
from callroster.privacy.keys import (
    BlindIndex,
    FieldCipher,
    MasterKeyRing,
    new_data_key,
    new_master_key,
    read_key_ring,
    write_key_ring,
)
from callroster.store.models import AccountKey, PlatformKey

log = logging.getLogger(__name__)

BLIND_INDEX_PURPOSE = "blind_index"
TRUNK_SECRETS_PURPOSE = "trunk_secrets"
# Stands where an account id stands in a field's associated data (``...:account:platform``).
PLATFORM_CIPHER_OWNER = "platform"


class KeyRingSource:
    """Where the master key ring comes from: a file (reloaded when it changes) or fixed text."""

    def __init__(self, path: Path | None = None, text: str | None = None) -> None:
        if (path is None) == (text is None):
            raise ValueError("give exactly one of path or text")
        self.path = path
        self._ring = MasterKeyRing.parse(text, source="CALLROSTER_MASTER_KEY") if text else None
        self._mtime_ns = -1
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, create: bool) -> KeyRingSource:
        """Open a ring file; ``create`` makes a new one (mode 0600) when it is missing."""
        if not path.exists():
            if not create:
                raise MasterKeyError(f"master key file {path} does not exist")
            write_key_ring(path, MasterKeyRing([new_master_key()]))
            log.info("created a new master key at %s", path)
        source = cls(path=path)
        source.ring()
        return source

    @property
    def rotatable(self) -> bool:
        return self.path is not None

    def ring(self) -> MasterKeyRing:
        if self.path is None:
            assert self._ring is not None
            return self._ring
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime_ns
            except FileNotFoundError as exc:
                raise MasterKeyError(f"master key file {self.path} has disappeared") from exc
            if self._ring is None or mtime != self._mtime_ns:
                self._ring = read_key_ring(self.path)
                self._mtime_ns = mtime
            return self._ring

    def replace(self, ring: MasterKeyRing) -> None:
        if self.path is None:
            raise MasterKeyError("the master key comes from the environment; rotate it there")
        write_key_ring(self.path, ring)
        with self._lock:
            self._ring, self._mtime_ns = ring, self.path.stat().st_mtime_ns


def _account_context(account_id: str) -> str:
    return f"account:{account_id}"


def _platform_context(purpose: str) -> str:
    return f"platform:{purpose}"


class KeyStore:
    """Creates, unwraps (with a cache), destroys and re-wraps data keys."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ring_source: KeyRingSource,
        clock: Callable[[], dt.datetime],
        read_sessions: sessionmaker[Session] | None = None,
    ) -> None:
        self._sessions = sessions
        # Key look-ups happen inside other transactions; on SQLite they need a connection
        # that does not queue for the write lock those transactions hold.
        self._read_sessions = read_sessions or sessions
        self._ring_source = ring_source
        self._clock = clock
        self._ciphers: dict[str, FieldCipher] = {}
        self._index: BlindIndex | None = None
        self._platform_keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # -- platform keys ------------------------------------------------------------------
    def blind_index(self) -> BlindIndex:
        if self._index is None:
            self._index = BlindIndex(self._platform_key(BLIND_INDEX_PURPOSE))
        return self._index

    def trunk_secrets(self) -> FieldCipher:
        """The cipher for SIP trunk credentials, which belong to the operator, not an account.

        Its key is made on first use. The associated data of each ciphertext names the field
        and ``platform`` where an account cipher names the account, so a trunk secret never
        opens under an account's key or the other way round.
        """
        return FieldCipher(PLATFORM_CIPHER_OWNER, self._platform_key(TRUNK_SECRETS_PURPOSE))

    def platform_cipher(self, purpose: str) -> FieldCipher:
        """A cipher under the platform key of ``purpose`` (made on first use), for personal
        data that belongs to no account: a data-subject request's address
        (``store.privacy_requests``). Its ciphertexts never open under an account's key."""
        return FieldCipher(PLATFORM_CIPHER_OWNER, self._platform_key(purpose))

    def platform_seed(self, purpose: str) -> bytes:
        """The 32 random bytes of the platform key of ``purpose`` (made on first use, kept
        wrapped by the master key like every platform key), as the seed of a signing key:
        the consent export's Ed25519 key (``store.consent_records``). Never written anywhere
        else; ``purpose`` must be one no cipher uses, so no key serves two ends."""
        return self._platform_key(purpose)

    def wrap_platform(self, purpose: str, key: bytes) -> tuple[str, bytes]:
        """``key`` wrapped by the current master key as the ``platform_keys`` row of
        ``purpose`` holds it: (master key id, blob). For a repository that keeps a versioned
        platform key in its own transaction (``store.consent_signing``); ``rewrap_all``
        re-wraps such rows like any other."""
        return self._ring_source.ring().wrap(key, _platform_context(purpose))

    def unwrap_platform(self, purpose: str, master_key_id: str, blob: bytes) -> bytes:
        """A ``platform_keys`` row's key, unwrapped (not cached: see ``wrap_platform``)."""
        return self._unwrap(master_key_id, blob, _platform_context(purpose))

    def forget_platform_key(self, purpose: str) -> None:
        """Drop this process's cached copy of a platform key that was replaced."""
        with self._lock:
            self._platform_keys.pop(purpose, None)

    def _platform_key(self, purpose: str) -> bytes:
        """A platform key, unwrapped; made and stored wrapped the first time it is asked for.

        Reads go through the read sessions, so a caller may ask from inside its own write
        transaction once the key exists (on SQLite a second writer would wait for itself).
        """
        with self._lock:
            cached = self._platform_keys.get(purpose)
        if cached is not None:
            return cached
        context = _platform_context(purpose)
        with self._read_sessions() as session:
            row = session.get(PlatformKey, purpose)
            stored = (row.master_key_id, row.wrapped_key) if row is not None else None
        if stored is not None:
            key = self._unwrap(*stored, context)
        else:
            key = self._create_platform_key(purpose, context)
        with self._lock:
            self._platform_keys[purpose] = key
        return key

    def _create_platform_key(self, purpose: str, context: str) -> bytes:
        try:
            with self._sessions.begin() as session:
                row = session.get(PlatformKey, purpose)
                if row is not None:  # another writer made it while we looked
                    return self._unwrap(row.master_key_id, row.wrapped_key, context)
                key = new_data_key()
                key_id, blob = self._ring_source.ring().wrap(key, context)
                session.add(
                    PlatformKey(
                        purpose=purpose,
                        master_key_id=key_id,
                        wrapped_key=blob,
                        created_at=self._clock(),
                    )
                )
            return key
        except IntegrityError:
            # Another process inserted it between our read and our insert: use theirs.
            with self._read_sessions() as session:
                row = session.get_one(PlatformKey, purpose)
                return self._unwrap(row.master_key_id, row.wrapped_key, context)

    # -- account keys -------------------------------------------------------------------
    def create_account_key(self, session: Session, account_id: str) -> FieldCipher:
        key = new_data_key()
        key_id, blob = self._ring_source.ring().wrap(key, _account_context(account_id))
        session.add(
            AccountKey(
                account_id=account_id,
                master_key_id=key_id,
                wrapped_key=blob,
                created_at=self._clock(),
            )
        )
        cipher = FieldCipher(account_id, key)
        with self._lock:
            self._ciphers[account_id] = cipher
        return cipher

    def cipher(self, account_id: str) -> FieldCipher:
        """The account's field cipher.

        Raises:
            DataKeyDestroyedError: the account's key was destroyed (its data is shredded).
            NotFoundError: the account has no key.
        """
        with self._lock:
            cached = self._ciphers.get(account_id)
        if cached is not None:
            return cached
        with self._read_sessions() as session:
            row = session.get(AccountKey, account_id)
        if row is None:
            raise NotFoundError(f"account {account_id} has no data key")
        if row.wrapped_key is None or row.master_key_id is None:
            raise DataKeyDestroyedError(f"account {account_id}'s data key was destroyed")
        key = self._unwrap(row.master_key_id, row.wrapped_key, _account_context(account_id))
        cipher = FieldCipher(account_id, key)
        with self._lock:
            self._ciphers[account_id] = cipher
        return cipher

    def destroy_account_key(self, session: Session, account_id: str) -> None:
        """Crypto-shred: overwrite the wrapped key; every ciphertext of the account is dead."""
        row = session.get(AccountKey, account_id)
        if row is None:
            raise NotFoundError(f"account {account_id} has no data key")
        row.wrapped_key = None
        row.master_key_id = None
        row.destroyed_at = self._clock()
        self.forget(account_id)

    def forget(self, account_id: str) -> None:
        with self._lock:
            self._ciphers.pop(account_id, None)

    def forget_destroyed(self) -> list[str]:
        """Drop every cached cipher whose account's key was destroyed since it was cached (by
        another process: ``callroster account shred``, another node), and return those
        accounts' ids. One small query on the cached ids; a running service calls it every
        ``key_watch_seconds`` (``watch_destroyed_keys``), as it re-reads a rotated key ring."""
        with self._lock:
            cached = list(self._ciphers)
        if not cached:
            return []
        with self._read_sessions() as session:
            destroyed = list(
                session.scalars(
                    select(AccountKey.account_id).where(
                        AccountKey.account_id.in_(cached), AccountKey.wrapped_key.is_(None)
                    )
                )
            )
        for account_id in destroyed:
            self.forget(account_id)
        return destroyed

    def _unwrap(self, key_id: str, blob: bytes, context: str) -> bytes:
        return self._ring_source.ring().unwrap(key_id, blob, context)

    # -- rotation -----------------------------------------------------------------------
    def rewrap_all(self, ring: MasterKeyRing) -> int:
        """Re-wrap every live data key under ``ring.current``; returns how many changed."""
        changed = 0
        current = ring.current.key_id
        with self._sessions.begin() as session:
            for account_key in session.scalars(select(AccountKey).with_for_update()):
                if account_key.wrapped_key is None or account_key.master_key_id is None:
                    continue
                if account_key.master_key_id == current:
                    continue
                context = _account_context(account_key.account_id)
                key = ring.unwrap(account_key.master_key_id, account_key.wrapped_key, context)
                account_key.master_key_id, account_key.wrapped_key = ring.wrap(key, context)
                changed += 1
            for platform_key in session.scalars(select(PlatformKey).with_for_update()):
                if platform_key.master_key_id == current:
                    continue
                context = _platform_context(platform_key.purpose)
                key = ring.unwrap(platform_key.master_key_id, platform_key.wrapped_key, context)
                platform_key.master_key_id, platform_key.wrapped_key = ring.wrap(key, context)
                changed += 1
        return changed

    def master_key_ids_in_use(self) -> set[str]:
        with self._sessions() as session:
            ids = set(session.scalars(select(AccountKey.master_key_id)))
            ids |= set(session.scalars(select(PlatformKey.master_key_id)))
        ids.discard(None)
        return {i for i in ids if i is not None}

    def rotate_master_key(self, *, retire_old: bool = True) -> tuple[str, int]:
        """Rotate the master key in place. Returns (new key id, data keys re-wrapped)."""
        if not self._ring_source.rotatable:
            raise MasterKeyError("the master key comes from the environment; rotate it there")
        old = self._ring_source.ring()
        new_key = new_master_key()
        staged = old.with_current(new_key)
        self._ring_source.replace(staged)
        changed = 0
        # A running service may wrap one more key under an old id before it reloads the
        # file; loop until nothing refers to an old key.
        for _ in range(10):
            changed += self.rewrap_all(staged)
            if self.master_key_ids_in_use() <= {new_key.key_id}:
                break
        else:
            raise MasterKeyError("data keys keep appearing under the old master key")
        if retire_old:
            self._ring_source.replace(MasterKeyRing([new_key]))
        return new_key.key_id, changed

    def has_any_wrapped_key(self) -> bool:
        return bool(self.master_key_ids_in_use())


def ensure_key_ring_matches(keys: KeyStore, ring_source: KeyRingSource) -> None:
    """Refuse to run with a key ring that cannot unwrap what the store holds."""
    missing = keys.master_key_ids_in_use() - set(ring_source.ring().key_ids)
    if missing:
        raise MasterKeyError(
            "the store's data keys were wrapped by master key(s) "
            f"{', '.join(sorted(missing))}, which the key ring does not hold"
        )
