"""Audio-file rows: which files an account may use, listing, removal.

A removed file keeps its row (``removed_at`` set): sessions name it by ``media_file_id`` and
keep reporting it, and sessions accepted before the removal still play it. New calls, the
Data API and ``media list`` no longer see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from vestnik.calls import CallState, MessageType
from vestnik.store.accounts import AdminError
from vestnik.store.db import now
from vestnik.store.schema import call_sessions, media_files

TYPE_SYSTEM = "system"  # shipped with vestnik, usable by every account, never removed
TYPE_USER = "user"  # an account's own upload
_mf = media_files.c


def usable_by(account_id: int) -> ColumnElement[bool]:
    """Files a new call of the account may play: its own and the system ones, not removed."""
    return sa.and_(
        _mf.removed_at.is_(None),
        sa.or_(_mf.account_id == account_id, _mf.type == TYPE_SYSTEM),
    )


def is_usable(conn: Connection, account_id: int, media_id: int) -> bool:
    query = sa.select(_mf.id).where(_mf.id == media_id, usable_by(account_id))
    return conn.execute(query).first() is not None


def get_media_file(conn: Connection, media_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(media_files).where(_mf.id == media_id)).mappings().first()
    if row is None:
        raise AdminError(f"media file {media_id} not found")
    return dict(row)


def list_media_files(
    conn: Connection, account_id: int, *, include_removed: bool = False
) -> list[dict[str, Any]]:
    """The account's files and the system ones, oldest first."""
    visible = sa.or_(_mf.account_id == account_id, _mf.type == TYPE_SYSTEM)
    if not include_removed:
        visible = sa.and_(visible, _mf.removed_at.is_(None))
    rows = conn.execute(sa.select(media_files).where(visible).order_by(_mf.id)).mappings()
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class MediaRemoval:
    file: dict[str, Any]  # the row after the change
    was_removed: bool  # it had been removed before
    unfinished_sessions: int  # sessions that will still play it


def remove_media_file(conn: Connection, account_id: int, media_id: int) -> MediaRemoval:
    """Mark the account's user file removed (again: harmless) and count who still needs it."""
    row = get_media_file(conn, media_id)
    if row["type"] == TYPE_SYSTEM:
        raise AdminError(f"media file {media_id} is a system file: system files cannot be removed")
    if row["account_id"] != account_id:
        raise AdminError(f"media file {media_id} is not a file of account {account_id}")
    was_removed = row["removed_at"] is not None
    if not was_removed:
        conn.execute(media_files.update().where(_mf.id == media_id).values(removed_at=now()))
    return MediaRemoval(
        get_media_file(conn, media_id), was_removed, _unfinished_sessions(conn, media_id)
    )


def _unfinished_sessions(conn: Connection, media_id: int) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(call_sessions)
        .where(
            call_sessions.c.message_type == MessageType.MEDIA.value,
            call_sessions.c.media_file_id == media_id,
            call_sessions.c.state != CallState.FINISHED.value,
        )
    )
    return int(conn.execute(query).scalar_one())
