"""The blind indexes of the beginnings of every PIN, so that no new PIN begins another

Existing PINs are read with the master key ring (as in 0010) to index their beginnings; the
PINs of an account whose data key was destroyed cannot be, and are left out.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callroster.privacy.keys import BlindIndex, FieldCipher, MasterKeyRing

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The stored format (store.repository CONFERENCE_PIN / CONFERENCE_HOST_PIN, store.keys,
# store.conferences.SHORTEST_PIN_PREFIX), spelt out.
PIN_FIELD, HOST_PIN_FIELD, KIND = "conferences.pin", "conferences.host_pin", "pin"
SHORTEST_PREFIX = 6

conferences = sa.table(
    "conferences",
    sa.column("id", sa.String),
    sa.column("account_id", sa.String),
    sa.column("pin_enc", sa.LargeBinary),
    sa.column("host_pin_enc", sa.LargeBinary),
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
    pin_prefixes = op.create_table(
        "pin_prefixes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conference_id", sa.String(length=36), nullable=False),
        sa.Column("of_host_pin", sa.Boolean(), nullable=False),
        sa.Column("prefix_index", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["conferences.id"],
            name=op.f("fk_pin_prefixes_conference_id_conferences"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pin_prefixes")),
    )
    with op.batch_alter_table("pin_prefixes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pin_prefixes_conference_id"), ["conference_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pin_prefixes_prefix_index"), ["prefix_index"], unique=False
        )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            conferences.c.id,
            conferences.c.account_id,
            conferences.c.pin_enc,
            conferences.c.host_pin_enc,
        )
    ).all()
    if not rows:
        return
    ring = context.config.attributes.get("key_ring")
    if not isinstance(ring, MasterKeyRing):
        raise RuntimeError(
            "migration 0011 indexes the beginnings of existing PINs and needs the master key:"
            " run it through `callroster migrate` or `callroster serve` with the key configured"
        )
    key_row = connection.execute(
        sa.select(platform_keys.c.master_key_id, platform_keys.c.wrapped_key).where(
            platform_keys.c.purpose == "blind_index"
        )
    ).one()
    index = BlindIndex(ring.unwrap(key_row[0], key_row[1], "platform:blind_index"))
    ciphers: dict[str, FieldCipher | None] = {}
    for conference_id, account_id, pin_enc, host_pin_enc in rows:
        if account_id not in ciphers:
            wrapped = connection.execute(
                sa.select(account_keys.c.master_key_id, account_keys.c.wrapped_key).where(
                    account_keys.c.account_id == account_id
                )
            ).first()
            ciphers[account_id] = (
                FieldCipher(
                    account_id, ring.unwrap(wrapped[0], wrapped[1], f"account:{account_id}")
                )
                if wrapped is not None and wrapped[0] is not None and wrapped[1] is not None
                else None
            )
        cipher = ciphers[account_id]
        if cipher is None:  # shredded: its PINs cannot be read
            continue
        for field, sealed, of_host in (
            (PIN_FIELD, pin_enc, False),
            (HOST_PIN_FIELD, host_pin_enc, True),
        ):
            if sealed is None:
                continue
            pin = cipher.decrypt(field, sealed)
            for n in range(SHORTEST_PREFIX, len(pin)):
                connection.execute(
                    pin_prefixes.insert().values(
                        conference_id=conference_id,
                        of_host_pin=of_host,
                        prefix_index=index.of(KIND, pin[:n]),
                    )
                )


def downgrade() -> None:
    with op.batch_alter_table("pin_prefixes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pin_prefixes_prefix_index"))
        batch_op.drop_index(batch_op.f("ix_pin_prefixes_conference_id"))
    op.drop_table("pin_prefixes")
