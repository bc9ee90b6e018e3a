"""Social profiles a participant consents to show in Live Call Status (issue 16)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 01:45:00

Reserved: the tables come with the change that uses them.
"""

from __future__ import annotations

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
