"""Data-subject requests and marketing suppressions (issue 15)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("address_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("correction_enc", sa.LargeBinary(), nullable=True),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("refusal_enc", sa.LargeBinary(), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("export_token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("export_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_privacy_requests_token_hash")),
        sa.UniqueConstraint(
            "export_token_hash", name=op.f("uq_privacy_requests_export_token_hash")
        ),
    )
    for column in ("address_index", "status", "received_at"):
        op.create_index(
            op.f(f"ix_privacy_requests_{column}"), "privacy_requests", [column], unique=False
        )
    op.create_table(
        "marketing_suppressions",
        sa.Column("address_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address_index", name=op.f("pk_marketing_suppressions")),
    )


def downgrade() -> None:
    op.drop_table("marketing_suppressions")
    op.drop_table("privacy_requests")
