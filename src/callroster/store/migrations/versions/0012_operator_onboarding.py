"""Operator onboarding: account status and life cycle, one-time set-up links (issue 13)

Reserved for this work; it changes nothing until filled in.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
