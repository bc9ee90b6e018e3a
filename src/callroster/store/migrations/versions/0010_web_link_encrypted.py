"""Room links encrypted under the account's key, found by a blind index (issue 12)

The conversion needs the keys, which a migration reaches through the master key ring that
``callroster.store.migrate`` passes in (``config.attributes["key_ring"]``): the account data
keys and the blind-index key are read, wrapped, from this same connection and unwrapped
with it. Without a ring, a database that has conferences is not converted (an error says
so); an empty one needs none.

The link of an account whose data key was destroyed (shredded) cannot be encrypted: it is
replaced by random bytes and a random index, so it reads as nothing and opens nothing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 20:05:00
"""

from __future__ import annotations

import os
import secrets

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.engine import Connection

from callroster.privacy.keys import BlindIndex, FieldCipher, MasterKeyRing

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The stored format (store.repository.CONFERENCE_WEB_LINK, store.keys): spelt out here so
# that this migration keeps meaning what it meant if the code's names change.
FIELD = "conferences.web_link"
INDEX_KIND = "web_link"
BLIND_INDEX_CONTEXT = "platform:blind_index"

conferences = sa.table(
    "conferences",
    sa.column("id", sa.String),
    sa.column("account_id", sa.String),
    sa.column("web_link", sa.String),
    sa.column("web_link_enc", sa.LargeBinary),
    sa.column("web_link_index", sa.LargeBinary),
)
account_keys = sa.table(
    "account_keys",
    sa.column("account_id", sa.String),
    sa.column("master_key_id", sa.String),
    sa.column("wrapped_key", sa.LargeBinary),
)
platform_keys = sa.table(
    "platform_keys",
    sa.column("purpose", sa.String),
    sa.column("master_key_id", sa.String),
    sa.column("wrapped_key", sa.LargeBinary),
)


class _Keys:
    """The account ciphers and the blind index, unwrapped from this connection's rows."""

    def __init__(self, connection: Connection) -> None:
        ring = context.config.attributes.get("key_ring")
        if not isinstance(ring, MasterKeyRing):
            raise RuntimeError(
                "migration 0010 encrypts the room links of existing conferences and needs the"
                " master key: run it through `callroster migrate` or `callroster serve` with"
                " the key configured"
            )
        self._ring = ring
        self._connection = connection
        self._ciphers: dict[str, FieldCipher | None] = {}
        row = connection.execute(
            sa.select(platform_keys.c.master_key_id, platform_keys.c.wrapped_key).where(
                platform_keys.c.purpose == "blind_index"
            )
        ).first()
        if row is None:
            raise RuntimeError("conferences exist but the blind-index key does not")
        self.index = BlindIndex(ring.unwrap(row[0], row[1], BLIND_INDEX_CONTEXT))

    def cipher(self, account_id: str) -> FieldCipher | None:
        """The account's cipher, or None when its key was destroyed."""
        if account_id not in self._ciphers:
            row = self._connection.execute(
                sa.select(account_keys.c.master_key_id, account_keys.c.wrapped_key).where(
                    account_keys.c.account_id == account_id
                )
            ).first()
            if row is None or row[0] is None or row[1] is None:
                self._ciphers[account_id] = None
            else:
                key = self._ring.unwrap(row[0], row[1], f"account:{account_id}")
                self._ciphers[account_id] = FieldCipher(account_id, key)
        return self._ciphers[account_id]


def upgrade() -> None:
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("web_link_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("web_link_index", sa.LargeBinary(length=32), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(conferences.c.id, conferences.c.account_id, conferences.c.web_link)
    ).all()
    keys = _Keys(connection) if rows else None
    for conference_id, account_id, link in rows:
        assert keys is not None
        cipher = keys.cipher(account_id)
        if cipher is None:  # shredded: nothing can be read, so nothing need be kept
            sealed, index = os.urandom(64), os.urandom(32)
        else:
            sealed = cipher.encrypt(FIELD, link)
            index = keys.index.of(INDEX_KIND, link)
        connection.execute(
            conferences.update()
            .where(conferences.c.id == conference_id)
            .values(web_link_enc=sealed, web_link_index=index)
        )
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_conferences_web_link"), type_="unique")
        batch_op.drop_column("web_link")
        batch_op.alter_column("web_link_enc", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column(
            "web_link_index", existing_type=sa.LargeBinary(length=32), nullable=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_conferences_web_link_index"), ["web_link_index"]
        )


def downgrade() -> None:
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("web_link", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(conferences.c.id, conferences.c.account_id, conferences.c.web_link_enc)
    ).all()
    keys = _Keys(connection) if rows else None
    for conference_id, account_id, sealed in rows:
        assert keys is not None
        cipher = keys.cipher(account_id)
        # A shredded account's link could not be read: a new random one, opening nothing
        # (its host's conferences take no calls anyway).
        link = cipher.decrypt(FIELD, sealed) if cipher else secrets.token_urlsafe(12)
        connection.execute(
            conferences.update().where(conferences.c.id == conference_id).values(web_link=link)
        )
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_conferences_web_link_index"), type_="unique")
        batch_op.drop_column("web_link_index")
        batch_op.drop_column("web_link_enc")
        batch_op.alter_column("web_link", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_conferences_web_link"), ["web_link"])
