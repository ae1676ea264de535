"""Spoken replies (collect_speech): call_sessions.speech_reply, call_sessions.speech_intent

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 00:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of call_sessions would drop a table that others refer to.
    op.add_column("call_sessions", sa.Column("speech_reply", sa.Text(), nullable=True))
    op.add_column("call_sessions", sa.Column("speech_intent", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35 has it), as 0008's downgrade.
    for name in ("speech_intent", "speech_reply"):
        op.execute(f"ALTER TABLE call_sessions DROP COLUMN {name}")
