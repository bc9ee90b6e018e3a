"""SIP trunks and call detail records

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trunks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=True),
        sa.Column("password_enc", sa.LargeBinary(), nullable=True),
        sa.Column("caller_id", sa.String(length=16), nullable=True),
        sa.Column("prefixes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trunks")),
        sa.UniqueConstraint("name", name=op.f("uq_trunks_name")),
    )
    op.create_table(
        "call_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("conference_id", sa.String(length=36), nullable=True),
        sa.Column("leg_id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("number_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("trunk_id", sa.String(length=36), nullable=True),
        sa.Column("requested_by", sa.String(length=36), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("sip_status", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_call_records_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["conferences.id"],
            name=op.f("fk_call_records_conference_id_conferences"),
        ),
        sa.ForeignKeyConstraint(
            ["trunk_id"], ["trunks.id"], name=op.f("fk_call_records_trunk_id_trunks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
    )
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_records_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_call_records_conference_id"), ["conference_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_call_records_number_index"), ["number_index"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_records_number_index"))
        batch_op.drop_index(batch_op.f("ix_call_records_conference_id"))
        batch_op.drop_index(batch_op.f("ix_call_records_account_id"))

    op.drop_table("call_records")
    op.drop_table("trunks")
