"""Every host's conferences and the number plan (issue 13)

The number plan's columns on ``dial_in_numbers`` (region, label, when added); the numbers an
account is limited to (``account_dial_ins``); the PINs taken out of use and when
(``retired_pins``, blind indexes only), so none is given again within the cooling-off period.
Existing ``local`` and ``geographic`` numbers become ``toll`` (the plan's two kinds are toll
and toll-free; ``sip`` stays for an address with no telephone number).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dial_in_numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("label", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    numbers = sa.table("dial_in_numbers", sa.column("kind", sa.String))
    op.execute(
        numbers.update().where(numbers.c.kind.in_(("local", "geographic"))).values(kind="toll")
    )
    op.create_table(
        "account_dial_ins",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("dial_in_number_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_dial_ins_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["dial_in_number_id"],
            ["dial_in_numbers.id"],
            name=op.f("fk_account_dial_ins_dial_in_number_id_dial_in_numbers"),
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "dial_in_number_id", name=op.f("pk_account_dial_ins")
        ),
    )
    op.create_table(
        "retired_pins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pin_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retired_pins")),
    )
    with op.batch_alter_table("retired_pins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retired_pins_pin_index"), ["pin_index"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_retired_pins_retired_at"), ["retired_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("retired_pins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retired_pins_retired_at"))
        batch_op.drop_index(batch_op.f("ix_retired_pins_pin_index"))
    op.drop_table("retired_pins")
    op.drop_table("account_dial_ins")
    with op.batch_alter_table("dial_in_numbers", schema=None) as batch_op:
        batch_op.drop_column("created_at")
        batch_op.drop_column("label")
        batch_op.drop_column("region")
