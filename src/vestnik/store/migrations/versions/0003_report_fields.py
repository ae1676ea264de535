"""Data API report fields: the contact's country, and who added a blacklist entry

call_sessions.contact_country: ISO 3166 alpha-2 of a phone contact (``cpn_country_id``).
blacklist.added_by: the login of the user whose session token added the entry
(``add_user_name``); NULL for API keys and the admin command line.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_country", sa.String(length=2), nullable=True))
    with op.batch_alter_table("blacklist", schema=None) as batch_op:
        batch_op.add_column(sa.Column("added_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blacklist", schema=None) as batch_op:
        batch_op.drop_column("added_by")
    with op.batch_alter_table("call_sessions", schema=None) as batch_op:
        batch_op.drop_column("contact_country")
