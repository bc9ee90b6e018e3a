"""Operator onboarding: account status and life cycle, one-time set-up links (issue 13)

Accounts get a status (active, suspended, terminated; an account already terminated, a
shredded one, is ``terminated``), when they were suspended, and a blind index of their name so
that no two share one. Existing names are read with the master key ring (as in 0010 and 0011)
to index them; a shredded account's cannot be and stays unindexed, and of two existing
accounts with the same name only the older is indexed. New tables: ``setup_links`` (the first
administrator's one-time link, only its SHA-256) and ``operator_sessions`` (an operator's
browser at ``/operator``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import context, op

from callroster.privacy.keys import BlindIndex, FieldCipher, MasterKeyRing

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The stored format (store.onboarding ACCOUNT_NAME_KIND and normal_account_name, the
# "accounts.name" field of store.accounts), spelt out.
NAME_FIELD, NAME_KIND = "accounts.name", "account_name"


def _normal(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


accounts = sa.table(
    "accounts",
    sa.column("id", sa.String),
    sa.column("name_enc", sa.LargeBinary),
    sa.column("terminated_at", sa.DateTime),
    sa.column("created_at", sa.DateTime),
    sa.column("status", sa.String),
    sa.column("name_index", sa.LargeBinary),
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


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )
        batch_op.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("name_index", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_accounts_name_index"), ["name_index"])
    op.create_table(
        "setup_links",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_setup_links_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_setup_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setup_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_setup_links_token_hash")),
    )
    with op.batch_alter_table("setup_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_setup_links_account_id"), ["account_id"])
        batch_op.create_index(batch_op.f("ix_setup_links_user_id"), ["user_id"])
    op.create_table(
        "operator_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("operator_token_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_token_id"],
            ["operator_tokens.id"],
            name=op.f("fk_operator_sessions_operator_token_id_operator_tokens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_sessions")),
    )
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_operator_sessions_operator_token_id"), ["operator_token_id"]
        )

    connection = op.get_bind()
    connection.execute(
        accounts.update().where(accounts.c.terminated_at.is_not(None)).values(status="terminated")
    )
    rows = connection.execute(
        sa.select(accounts.c.id, accounts.c.name_enc).order_by(accounts.c.created_at)
    ).all()
    if not rows:
        return
    ring = context.config.attributes.get("key_ring")
    if not isinstance(ring, MasterKeyRing):
        raise RuntimeError(
            "migration 0012 indexes the names of existing accounts and needs the master key:"
            " run it through `callroster migrate` or `callroster serve` with the key configured"
        )
    key_row = connection.execute(
        sa.select(platform_keys.c.master_key_id, platform_keys.c.wrapped_key).where(
            platform_keys.c.purpose == "blind_index"
        )
    ).one()
    index = BlindIndex(ring.unwrap(key_row[0], key_row[1], "platform:blind_index"))
    seen: set[bytes] = set()
    for account_id, name_enc in rows:
        wrapped = connection.execute(
            sa.select(account_keys.c.master_key_id, account_keys.c.wrapped_key).where(
                account_keys.c.account_id == account_id
            )
        ).first()
        if wrapped is None or wrapped[0] is None or wrapped[1] is None:
            continue  # shredded: its name cannot be read
        cipher = FieldCipher(
            account_id, ring.unwrap(wrapped[0], wrapped[1], f"account:{account_id}")
        )
        digest = index.of(NAME_KIND, _normal(cipher.decrypt(NAME_FIELD, name_enc)))
        if digest in seen:
            continue  # a name an older account already has: that one keeps it
        seen.add(digest)
        connection.execute(
            accounts.update().where(accounts.c.id == account_id).values(name_index=digest)
        )


def downgrade() -> None:
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operator_sessions_operator_token_id"))
    op.drop_table("operator_sessions")
    with op.batch_alter_table("setup_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_setup_links_user_id"))
        batch_op.drop_index(batch_op.f("ix_setup_links_account_id"))
    op.drop_table("setup_links")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_accounts_name_index"), type_="unique")
        batch_op.drop_column("name_index")
        batch_op.drop_column("suspended_at")
        batch_op.drop_column("status")
