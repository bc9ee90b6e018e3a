"""Every host's conferences and the number plan (issue 13)

Reserved for this work; it changes nothing until filled in.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
