"""What a crash leaves open: the service's heartbeat and the dialogs it may still end (issue 13)

``service_heartbeats`` holds the last moment the service was known alive; ``open_dialogs``
each call on a conference, encrypted, so that a BYE can still be sent to it after a crash;
``legs.end_reason`` says ``service_restart`` for a leg closed by the next start.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_heartbeats",
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_service_heartbeats")),
    )
    op.create_table(
        "open_dialogs",
        sa.Column("leg_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("dialog_enc", sa.LargeBinary(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_open_dialogs_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("leg_id", name=op.f("pk_open_dialogs")),
    )
    op.create_index(op.f("ix_open_dialogs_account_id"), "open_dialogs", ["account_id"])
    with op.batch_alter_table("legs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("legs", schema=None) as batch_op:
        batch_op.drop_column("end_reason")
    op.drop_index(op.f("ix_open_dialogs_account_id"), table_name="open_dialogs")
    op.drop_table("open_dialogs")
    op.drop_table("service_heartbeats")
