"""media_audio: the message audio of each media file, in the database

Several nodes on one database play every account's files without a shared folder: the
files under each node's ``<data_dir>/media/`` become its cache. Rows that existed before
this revision get their audio at the next ``vestnik serve`` start of a node that holds the
file (``vestnik.media.shared_audio.copy_local_audio``): a migration does not know the data
folder.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_audio",
        sa.Column("media_file_id", sa.Integer(), nullable=False),
        sa.Column("pcm_bytes", sa.BigInteger(), nullable=False),
        sa.Column("pcm_sha256", sa.String(length=64), nullable=False),
        sa.Column("pcm", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_file_id"],
            ["media_files.id"],
            name=op.f("fk_media_audio_media_file_id_media_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("media_file_id", name=op.f("pk_media_audio")),
    )


def downgrade() -> None:
    op.drop_table("media_audio")
