"""Several trunks: the trunk that carried a session's call and every INVITE it sent

call_sessions.trunk: the name of the trunk that carried the call (the last one tried).
call_sessions.attempts: JSON list of {trunk, sip_code, sip_reason}, one per INVITE, in order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trunk", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_sessions", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("trunk")
