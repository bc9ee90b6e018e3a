"""Social profiles a participant consents to show in Live Call Status (issue 16)

A signed-in user's public profile address, encrypted under the account's data key, and when
they consented to show it beside their name on the calls they join (None: not shown).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 01:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_url_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("profile_consent_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("profile_consent_at")
        batch_op.drop_column("profile_url_enc")
