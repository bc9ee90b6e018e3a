"""Consent records: each consent given at the banner, in the settings or by GPC (issue 16)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 01:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("categories", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaces", sa.String(length=36), nullable=True),
        sa.Column("ip_enc", sa.LargeBinary(), nullable=False),
        sa.Column("user_agent_enc", sa.LargeBinary(), nullable=False),
        sa.Column("source_index", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    for column in ("policy_version", "given_at"):
        op.create_index(
            op.f(f"ix_consent_records_{column}"), "consent_records", [column], unique=False
        )
    op.create_index(
        "ix_consent_records_source_given",
        "consent_records",
        ["source_index", "given_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("consent_records")
