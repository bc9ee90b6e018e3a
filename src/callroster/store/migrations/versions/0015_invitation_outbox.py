"""Invitations sent by email: the outbox of messages to send and retry (issue 13)

Reserved for this work; it changes nothing until filled in.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
