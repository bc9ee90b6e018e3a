"""Retention (issue 15): legal holds, and the indexes the purge and the hiding filters use

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_legal_holds_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
        sa.UniqueConstraint("kind", "target_id", name=op.f("uq_legal_holds_kind")),
    )
    op.create_index(op.f("ix_legal_holds_account_id"), "legal_holds", ["account_id"])
    op.create_index("ix_call_records_account_ended", "call_records", ["account_id", "ended_at"])
    op.create_index("ix_legs_account_joined", "legs", ["account_id", "joined_at"])


def downgrade() -> None:
    op.drop_index("ix_legs_account_joined", table_name="legs")
    op.drop_index("ix_call_records_account_ended", table_name="call_records")
    op.drop_table("legal_holds")
