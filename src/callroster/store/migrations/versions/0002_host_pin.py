"""host PIN on conferences

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host_pin_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("host_pin_index", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_conferences_host_pin_index"), ["host_pin_index"]
        )


def downgrade() -> None:
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_conferences_host_pin_index"), type_="unique")
        batch_op.drop_column("host_pin_index")
        batch_op.drop_column("host_pin_enc")
