"""Tell a Friend invitations and their one-click unsubscribe (issue 16)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 01:45:00

Reserved: the tables come with the change that uses them.
"""

from __future__ import annotations

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
