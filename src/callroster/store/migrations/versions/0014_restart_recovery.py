"""What a crash leaves open: the service's heartbeat and the dialogs it may still end (issue 13)

Reserved for this work; it changes nothing until filled in.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
