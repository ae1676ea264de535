"""Audio-file rows: which files an account may use, listing, removal, and the rows that
``vestnik.media`` writes (imports, system files) and reads (the renderer).

A removed file keeps its row (``removed_at`` set): sessions name it by ``media_file_id`` and
keep reporting it, and sessions accepted before the removal still play it. New calls, the
Data API and ``media list`` no longer see it.

A file's message audio is stored in ``media_audio`` (in the import's transaction), so every
node on the database can play it; the ``pcm_path`` file is each node's cache of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, event

from vestnik.calls import CallState, MessageType
from vestnik.store.db import now
from vestnik.store.errors import AdminError
from vestnik.store.schema import accounts, call_sessions, media_audio, media_files

TYPE_SYSTEM = "system"  # shipped with vestnik, usable by every account, never removed
TYPE_USER = "user"  # an account's own upload
_mf = media_files.c
_ma = media_audio.c
# pg_advisory_xact_lock key of ensure_system_media: nodes starting together make one set.
_SYSTEM_MEDIA_LOCK = 0x7665_6D65  # "veme"


def usable_by(account_id: int | ColumnElement[int]) -> ColumnElement[bool]:
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
    unfinished = _unfinished_sessions(conn, media_id)
    if unfinished == 0:  # no session will play it again: its audio goes with the removal
        conn.execute(media_audio.delete().where(_ma.media_file_id == media_id))
    return MediaRemoval(get_media_file(conn, media_id), was_removed, unfinished)


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


# -- the rows vestnik.media writes and reads -------------------------------------------------


@dataclass(frozen=True)
class MediaPcm:
    """Where a media file's message PCM is, and whose file it is (the renderer's lookup)."""

    account_id: int | None
    type: str
    pcm_path: str  # the node's cache file: relative to data_dir unless absolute
    pcm_bytes: int | None = None  # of the audio in media_audio; None: none stored there
    pcm_sha256: str | None = None

    @property
    def in_database(self) -> bool:
        return self.pcm_sha256 is not None


@dataclass(frozen=True)
class StoredAudio:
    """The stored audio of a media file: what an import or a regeneration writes."""

    pcm_path: str
    original_path: str | None
    size: int  # bytes of the original
    duration_ms: int


def account_exists(conn: Connection, account_id: int) -> bool:
    query = sa.select(accounts.c.id).where(accounts.c.id == account_id)
    return conn.execute(query).first() is not None


def insert_media_file(
    conn: Connection,
    audio: StoredAudio,
    *,
    account_id: int | None,
    media_type: str,
    name: str,
    original_filename: str | None,
    format: str,
    created_at: float,
) -> int:
    """A new ``media_files`` row for audio already stored; its id."""
    query = (
        media_files.insert()
        .values(
            account_id=account_id,
            type=media_type,
            name=name,
            original_filename=original_filename,
            format=format,
            created_at=created_at,
            **_audio_values(audio),
        )
        .returning(_mf.id)
    )
    return int(conn.execute(query).scalar_one())


def replace_stored_audio(conn: Connection, media_id: int, audio: StoredAudio) -> None:
    """Point an existing row at freshly stored audio (its id, name and times stay)."""
    conn.execute(media_files.update().where(_mf.id == media_id).values(**_audio_values(audio)))


def _audio_values(audio: StoredAudio) -> dict[str, Any]:
    return {
        "pcm_path": audio.pcm_path,
        "original_path": audio.original_path,
        "size": audio.size,
        "duration_ms": audio.duration_ms,
    }


def find_system_media_file(conn: Connection, name: str) -> tuple[int, str] | None:
    """(id, pcm_path) of the oldest system file called ``name``, if any."""
    query = (
        sa.select(_mf.id, _mf.pcm_path)
        .where(_mf.type == TYPE_SYSTEM, _mf.name == name)
        .order_by(_mf.id)
    )
    row = conn.execute(query).first()
    return None if row is None else (int(row.id), str(row.pcm_path))


def media_pcm(conn: Connection, media_id: int) -> MediaPcm | None:
    """The audio of a media file by id, removed or not (sessions accepted before a removal
    still play it), without the audio itself; None when there is no such row."""
    query = (
        sa.select(_mf.account_id, _mf.type, _mf.pcm_path, _ma.pcm_bytes, _ma.pcm_sha256)
        .select_from(media_files.outerjoin(media_audio, _ma.media_file_id == _mf.id))
        .where(_mf.id == media_id)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    size = None if row.pcm_bytes is None else int(row.pcm_bytes)
    return MediaPcm(row.account_id, row.type, row.pcm_path, size, row.pcm_sha256)


# -- media_audio: the message audio itself ------------------------------------------------


def pcm_digest(pcm: bytes) -> str:
    """What ``media_audio.pcm_sha256`` holds for ``pcm`` (hex SHA-256)."""
    return hashlib.sha256(pcm).hexdigest()


def store_audio(conn: Connection, media_id: int, pcm: bytes, *, replace: bool = True) -> bool:
    """Store the message audio of a media file; whether a row was written.

    ``replace``: a row already there is replaced (a regenerated system file); otherwise it is
    kept (nodes copying the same local file at once: the first one wins, none fails).
    """
    values = {
        "media_file_id": media_id,
        "pcm_bytes": len(pcm),
        "pcm_sha256": pcm_digest(pcm),
        "pcm": pcm,
    }
    if replace:
        conn.execute(media_audio.delete().where(_ma.media_file_id == media_id))
        conn.execute(media_audio.insert().values(**values))
        return True
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    query = (
        insert(media_audio).values(**values).on_conflict_do_nothing().returning(_ma.media_file_id)
    )
    return conn.execute(query).first() is not None


def stored_audio(conn: Connection, media_id: int) -> bytes | None:
    """The message audio of a media file (8 kHz mono s16le); None when none is stored."""
    query = sa.select(_ma.pcm).where(_ma.media_file_id == media_id)
    pcm = conn.execute(query).scalar_one_or_none()
    return None if pcm is None else bytes(pcm)


def has_stored_audio(conn: Connection, media_id: int) -> bool:
    query = sa.select(_ma.media_file_id).where(_ma.media_file_id == media_id)
    return conn.execute(query).first() is not None


def media_without_audio(conn: Connection) -> list[tuple[int, str]]:
    """(id, pcm_path) of the rows that may still be played but whose audio is not in
    ``media_audio`` (made before it was), oldest first. A removed file no unfinished session
    names is left out: its audio was deleted on purpose."""
    unfinished = (
        sa.select(call_sessions.c.id)
        .where(
            call_sessions.c.message_type == MessageType.MEDIA.value,
            call_sessions.c.media_file_id == _mf.id,
            call_sessions.c.state != CallState.FINISHED.value,
        )
        .exists()
    )
    query = (
        sa.select(_mf.id, _mf.pcm_path)
        .select_from(media_files.outerjoin(media_audio, _ma.media_file_id == _mf.id))
        .where(_ma.media_file_id.is_(None), sa.or_(_mf.removed_at.is_(None), unfinished))
        .order_by(_mf.id)
    )
    return [(int(r.id), str(r.pcm_path)) for r in conn.execute(query)]


def lock_system_media(conn: Connection) -> None:
    """Hold, until the transaction ends, the lock that makes one set of system files when
    several processes start at once (PostgreSQL; SQLite's write lock already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SYSTEM_MEDIA_LOCK)))


def on_rollback(conn: Connection, callback: Callable[[], None]) -> None:
    """Call ``callback`` once if the transaction open on ``conn`` rolls back (never after it
    committed). No transaction open: nothing can roll back, nothing is done."""
    if not conn.in_transaction():
        return
    # Listeners cannot be removed while SQLAlchemy dispatches them: they go quiet instead.
    settled = False

    def rolled_back(_conn: Any) -> None:
        nonlocal settled
        if not settled:
            settled = True
            callback()

    def committed(_conn: Any) -> None:
        nonlocal settled
        settled = True

    event.listen(conn, "rollback", rolled_back)
    event.listen(conn, "commit", committed)
