"""The claim's index: queued sessions by scheduled_at, then id

A claim takes the due scheduled sessions (a retry, a calling window) by time and the
unscheduled ones by id; with this index both are range scans, however many sessions wait.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 19:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_call_sessions_state_scheduled",
        "call_sessions",
        ["state", "scheduled_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_call_sessions_state_scheduled", table_name="call_sessions")
