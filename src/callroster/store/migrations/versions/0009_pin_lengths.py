"""PIN lengths as account settings (guest 8, host 10 by default); host PIN lengths kept

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("guest_pin_length", sa.Integer(), server_default="8", nullable=False)
        )
        batch_op.add_column(
            sa.Column("host_pin_length", sa.Integer(), server_default="10", nullable=False)
        )
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host_pin_length", sa.Integer(), nullable=True))
    # Every host PIN made before this revision has 8 digits (store.conferences PIN_LENGTH).
    op.execute("UPDATE conferences SET host_pin_length = 8 WHERE host_pin_enc IS NOT NULL")


def downgrade() -> None:
    # Below 0009 every host PIN is taken to have 8 digits (and the keypad tries 8 at once):
    # a longer one would be recorded as 8 when upgraded again, and cut short. Refuse.
    longer = (
        op.get_bind()
        .execute(sa.text("SELECT COUNT(*) FROM conferences WHERE host_pin_length <> 8"))
        .scalar_one()
    )
    if longer:
        raise RuntimeError(
            f"{longer} conference(s) have host PINs that are not 8 digits: reset them before"
            " downgrading below revision 0009"
        )
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.drop_column("host_pin_length")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("host_pin_length")
        batch_op.drop_column("guest_pin_length")
