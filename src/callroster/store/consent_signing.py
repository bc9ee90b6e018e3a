"""The key consent-record exports are signed with (issue 16), and its rotation.

**One current key for every node.** The Ed25519 key's 32-byte seed is the platform key
``consent_signing`` (a ``platform_keys`` row, wrapped by the master key), read from the
database each time an export is signed (never cached), so every node sharing the database
signs with the same key, and with the new one as soon as a rotation commits.

**Rotation** (``rotate``, ``callroster consent rotate-key``) overwrites that row with a new
random seed and keeps only the old key's *public* half, in a row of its own
(``consent_pub:<key id>``, wrapped by the master key like every platform key, so nobody who
can write the database but lacks the master key can slip in a key of their own): the old
private key is gone from the live database, and this service can never sign with it again.
Audit-logged: the operator, the time, the old and the new key id.

**No signature after retirement.** An export reads and uses the key inside one transaction
that holds the key's row (``FOR SHARE`` on PostgreSQL; SQLite's write lock, taken at BEGIN);
a rotation updates that row (``FOR UPDATE``), so it waits for an export under way, and an
export after it reads the new key. An export's ``exported_at`` is read under the same lock,
so an export signed by a key says it was made before that key's ``retired_at``: ``verify``
refuses one that says it was made later (``CLOCK_SKEW`` allowed between nodes' clocks).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callroster.accounts.actor import Actor, Role
from callroster.errors import AccessDeniedError
from callroster.privacy import consent_export
from callroster.privacy.consent_export import ExportInvalidError, Verified, key_id
from callroster.privacy.keys import new_data_key
from callroster.store.models import PlatformKey
from callroster.store.repository import Repository

CURRENT = "consent_signing"  # the current key's seed (the name the first key always had)
RETIRED_PREFIX = "consent_pub:"  # + key id: an earlier key's public half, and when it served
ROTATE_ACTION = "consent_signing.rotate"
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class SigningKey:
    """A key exports are or were signed with: its public half, from when it signed, and
    when it was retired (None: it is the current one)."""

    key_id: str
    public_key: Ed25519PublicKey
    since: dt.datetime
    retired_at: dt.datetime | None = None

    @property
    def current(self) -> bool:
        return self.retired_at is None


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: the key retired (None: there was none yet) and the new one."""

    old_key_id: str | None
    new_key_id: str
    at: dt.datetime


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class ConsentSigningKeys(Repository):
    """The current signing key, the earlier ones' public halves, and rotation."""

    # -- the current key -----------------------------------------------------------------
    def _row(self, session: Session, *, lock: bool) -> PlatformKey | None:
        query = select(PlatformKey).where(PlatformKey.purpose == CURRENT)
        if lock:
            query = query.with_for_update(read=True)
        return session.scalar(query)

    def ensure(self) -> None:
        """Make the first key when there is none (in its own transaction, before one that
        signs: two nodes making it at once keep one)."""
        with self._sessions() as session:
            if session.get(PlatformKey, CURRENT) is not None:
                return
        try:
            with self._sessions.begin() as session:
                if session.get(PlatformKey, CURRENT) is None:
                    session.add(self._new_row(new_data_key(), self._clock()))
        except IntegrityError:
            pass  # another node made it first: theirs is the key

    def _new_row(self, seed: bytes, now: dt.datetime) -> PlatformKey:
        master_key_id, blob = self._keys.wrap_platform(CURRENT, seed)
        return PlatformKey(
            purpose=CURRENT, master_key_id=master_key_id, wrapped_key=blob, created_at=now
        )

    def _private(self, row: PlatformKey) -> Ed25519PrivateKey:
        seed = self._keys.unwrap_platform(CURRENT, row.master_key_id, row.wrapped_key)
        return Ed25519PrivateKey.from_private_bytes(seed)

    def signer(self, session: Session) -> Ed25519PrivateKey:
        """The current private key, read inside the caller's transaction and holding its
        row until that transaction ends (so no rotation commits while it signs). Never
        returned to anything but the export being signed."""
        row = self._row(session, lock=True)
        if row is None:
            raise RuntimeError("call ensure() before the transaction that signs")
        return self._private(row)

    def current(self) -> SigningKey:
        """The key exports are signed with now (public half)."""
        self.ensure()
        with self._sessions() as session:
            row = self._row(session, lock=False)
            assert row is not None
            public = self._private(row).public_key()
            return SigningKey(key_id(public), public, row.created_at)

    # -- earlier keys -------------------------------------------------------------------
    def _retired(self, session: Session) -> list[SigningKey]:
        rows = session.scalars(
            select(PlatformKey)
            .where(PlatformKey.purpose.startswith(RETIRED_PREFIX, autoescape=True))
            .order_by(PlatformKey.created_at)
        )
        keys: list[SigningKey] = []
        for row in rows:
            blob = self._keys.unwrap_platform(row.purpose, row.master_key_id, row.wrapped_key)
            kept = json.loads(blob)
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(kept["public_key"]))
            since = dt.datetime.fromisoformat(kept["since"])
            keys.append(SigningKey(key_id(public), public, since, row.created_at))
        return keys

    def all(self) -> list[SigningKey]:
        """Every key an export of this service may be signed with: the current one first,
        then the earlier ones, latest retired first."""
        current = self.current()
        with self._sessions() as session:
            retired = self._retired(session)
        return [current, *reversed(retired)]

    # -- rotation -----------------------------------------------------------------------
    def rotate(self, actor: Actor) -> Rotation:
        """A new signing key for every node from now on; the old one's private half is
        overwritten (only its public half kept, to check the exports it signed).
        Audit-logged with both key ids.

        Raises:
            AccessDeniedError: the actor is not an operator.
        """
        if actor.role is not Role.OPERATOR:
            raise AccessDeniedError("only the operator rotates the consent signing key")
        self.ensure()
        with self._sessions.begin() as session:
            row = session.scalar(
                select(PlatformKey).where(PlatformKey.purpose == CURRENT).with_for_update()
            )
            assert row is not None
            now = self._clock()
            old = self._private(row).public_key()
            old_id = key_id(old)
            earlier = {key.key_id for key in self._retired(session)} | {old_id}
            seed = new_data_key()
            while key_id(Ed25519PrivateKey.from_private_bytes(seed).public_key()) in earlier:
                seed = new_data_key()  # 2**-64: a retired key is never current again
            new_id = key_id(Ed25519PrivateKey.from_private_bytes(seed).public_key())
            kept = json.dumps(
                {
                    "public_key": base64.b64encode(_raw(old)).decode(),
                    "since": row.created_at.isoformat(),
                }
            ).encode()
            purpose = RETIRED_PREFIX + old_id
            master_key_id, blob = self._keys.wrap_platform(purpose, kept)
            session.add(
                PlatformKey(
                    purpose=purpose, master_key_id=master_key_id, wrapped_key=blob, created_at=now
                )
            )
            fresh = self._new_row(seed, now)
            row.master_key_id, row.wrapped_key, row.created_at = (
                fresh.master_key_id,
                fresh.wrapped_key,
                now,
            )
            self._audit.record(
                session, actor, ROTATE_ACTION, f"consent_signing_key:{old_id}->{new_id}", None
            )
        self._keys.forget_platform_key(CURRENT)
        return Rotation(old_id, new_id, now)

    # -- checking an export ---------------------------------------------------------------
    def verify(self, data: bytes) -> tuple[Verified, SigningKey]:
        """Checks an export with the key it names (the current one or an earlier one), and
        refuses one signed by an earlier key that says it was made after that key was
        retired. Returns what verified and the key.

        Raises:
            ExportInvalidError: it does not verify; the message says why.
        """
        keys = {key.key_id: key for key in self.all()}
        verified = consent_export.verify_with(
            data, {kid: key.public_key for kid, key in keys.items()}
        )
        key = keys[verified.key_id]
        made = verified.exported_at
        if key.retired_at is not None and made is not None and made > key.retired_at + CLOCK_SKEW:
            raise ExportInvalidError(
                f"signed with key {key.key_id}, retired at {key.retired_at.isoformat()}, but "
                f"says it was exported later ({made.isoformat()})"
            )
        return verified, key
