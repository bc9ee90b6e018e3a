"""Consent records: each consent given at the banner, in the settings or by GPC (issue 16)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 01:45:00

Reserved: the tables come with the change that uses them.
"""

from __future__ import annotations

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
