"""Trunks: the run-time status each dialer stored, and the limits shared by every process

trunk_status: what each dialer process last knew of each trunk (``admin trunk list``).
trunk_rates: the shared schedule of a trunk's ``calls_per_second``.
trunk_places: the calls each dialer run has up on a trunk (``max_concurrent_calls``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trunk_status",
        sa.Column("trunk", sa.String(length=200), nullable=False),
        sa.Column("dialer", sa.String(length=64), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("registered", sa.Boolean(), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("trunk", "dialer", name=op.f("pk_trunk_status")),
    )
    op.create_table(
        "trunk_rates",
        sa.Column("trunk", sa.String(length=200), nullable=False),
        sa.Column("next_call_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("trunk", name=op.f("pk_trunk_rates")),
    )
    op.create_table(
        "trunk_places",
        sa.Column("trunk", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("trunk", "owner", name=op.f("pk_trunk_places")),
    )


def downgrade() -> None:
    op.drop_table("trunk_places")
    op.drop_table("trunk_rates")
    op.drop_table("trunk_status")
