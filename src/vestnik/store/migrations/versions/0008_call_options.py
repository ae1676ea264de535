"""vestnik's call options: DTMF replies, retries, calling windows, machine detection, recordings

accounts.call_policy: the options for sessions whose request sends none (JSON, NULL: none).
call_sessions: options (JSON), scheduled_at, attempt_count, attempt_log (JSON), dtmf_reply,
answered_by. call_recordings: one WAV per recorded attempt.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of accounts would drop a table that others refer to.
    op.add_column("accounts", sa.Column("call_policy", sa.JSON(), nullable=True))
    for column in (
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("scheduled_at", sa.Float(), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("attempt_log", sa.JSON(), nullable=True),
        sa.Column("dtmf_reply", sa.String(length=64), nullable=True),
        sa.Column("answered_by", sa.String(length=8), nullable=True),
    ):
        op.add_column("call_sessions", column)
    op.create_table(
        "call_recordings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_session_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("wav", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_call_recordings_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["call_session_id"],
            ["call_sessions.id"],
            name="fk_call_recordings_call_session_id_call_sessions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_recordings"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_call_recordings_call_session_id", "call_recordings", ["call_session_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_call_recordings_call_session_id", table_name="call_recordings")
    op.drop_table("call_recordings")
    # Plain DROP COLUMN (SQLite >= 3.35 has it; a batch copy of accounts or call_sessions would
    # drop a table that others refer to).
    names = ("answered_by", "dtmf_reply", "attempt_log", "attempt_count", "scheduled_at", "options")
    for name in names:
        op.execute(f"ALTER TABLE call_sessions DROP COLUMN {name}")
    op.execute("ALTER TABLE accounts DROP COLUMN call_policy")
