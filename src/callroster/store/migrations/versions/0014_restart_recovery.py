"""What a crash leaves open: the service's heartbeat and the dialogs it may still end (issue 13)

``service_heartbeats`` holds the last moment each node was known alive; ``open_legs`` each leg
in progress on a node, with a phone's dialog encrypted, so that the node's next start can
close it and still send it a BYE after a crash; ``legs.end_reason`` says ``service_restart``
for a leg closed so.

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
        "open_legs",
        sa.Column("leg_id", sa.String(length=36), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("dialog_enc", sa.LargeBinary(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_open_legs_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("leg_id", name=op.f("pk_open_legs")),
    )
    op.create_index(op.f("ix_open_legs_account_id"), "open_legs", ["account_id"])
    op.create_index(op.f("ix_open_legs_node"), "open_legs", ["node"])
    with op.batch_alter_table("legs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("legs", schema=None) as batch_op:
        batch_op.drop_column("end_reason")
    op.drop_index(op.f("ix_open_legs_node"), table_name="open_legs")
    op.drop_index(op.f("ix_open_legs_account_id"), table_name="open_legs")
    op.drop_table("open_legs")
    op.drop_table("service_heartbeats")
