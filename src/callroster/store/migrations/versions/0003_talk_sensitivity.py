"""talk detection sensitivity per conference

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("talk_sensitivity", sa.Float(), nullable=False, server_default="0.5")
        )


def downgrade() -> None:
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.drop_column("talk_sensitivity")
