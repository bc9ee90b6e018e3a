"""Tell a Friend invitations and their one-click unsubscribe (issue 16)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 01:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "friend_invitations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("sender_id", sa.String(length=36), nullable=True),
        sa.Column("address_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("message_enc", sa.LargeBinary(), nullable=True),
        sa.Column("token_enc", sa.LargeBinary(), nullable=True),
        sa.Column("standard_wording", sa.Boolean(), nullable=False),
        sa.Column("unsubscribe_token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_friend_invitations_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friend_invitations")),
        sa.UniqueConstraint("address_index", name=op.f("uq_friend_invitations_address_index")),
        sa.UniqueConstraint(
            "unsubscribe_token_hash", name=op.f("uq_friend_invitations_unsubscribe_token_hash")
        ),
    )
    for column in ("account_id", "sender_id", "next_attempt_at", "created_at"):
        op.create_index(
            op.f(f"ix_friend_invitations_{column}"), "friend_invitations", [column], unique=False
        )


def downgrade() -> None:
    op.drop_table("friend_invitations")
