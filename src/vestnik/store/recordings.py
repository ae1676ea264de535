"""Call recordings (``record``): one WAV per answered attempt, in ``call_recordings``.

The dialer stores them (:func:`save_recording`); the HTTP download, ``admin session show`` /
``admin session recording`` and the Data API's ``call_records``, ``wav_call_records`` and
``full_record_file_link`` read them here. A recording is addressed as the vendor addresses its
record links, by session and record id: :data:`RECORDING_PATH`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from vestnik.calls.ports import Recording
from vestnik.store.db import inserted_id
from vestnik.store.schema import call_recordings, call_sessions

# The download path of a recording (api/recordings.py serves it), after the vendor's record
# links ``https://app.comagic.ru/system/media/talk/{communication_id}/{record id}/``.
RECORDING_PATH = "/system/media/talk/{call_session_id}/{recording_id}/"
_PATH_HEAD, _PATH_TAIL = "/system/media/talk/", "/"

_r = call_recordings.c
# Everything but the audio itself.
_LISTED = (_r.id, _r.call_session_id, _r.account_id, _r.attempt, _r.duration_ms, _r.size,
           _r.created_at)  # fmt: skip


def save_recording(
    conn: Connection,
    *,
    session_id: int,
    account_id: int,
    attempt: int,
    recording: Recording,
    at: float,
) -> int:
    """Store one attempt's recording; its id."""
    result = conn.execute(
        call_recordings.insert().values(
            call_session_id=session_id,
            account_id=account_id,
            attempt=attempt,
            duration_ms=recording.duration_ms,
            size=len(recording.wav),
            wav=recording.wav,
            created_at=at,
        )
    )
    return inserted_id(result)


def recording_path(session_id: int, recording_id: int) -> str:
    return RECORDING_PATH.format(call_session_id=session_id, recording_id=recording_id)


def recording_url(public_url: str, session_id: int, recording_id: int) -> str:
    """The download link: ``public_url`` (``[server] public_url``) + the path; the path alone
    when ``public_url`` is empty."""
    return public_url.rstrip("/") + recording_path(session_id, recording_id)


def session_recordings(conn: Connection, session_id: int) -> list[dict[str, Any]]:
    """A session's recordings without their audio, in the order they were made."""
    query = sa.select(*_LISTED).where(_r.call_session_id == session_id).order_by(_r.id)
    return [dict(row) for row in conn.execute(query).mappings()]


def find_recording(
    conn: Connection,
    session_id: int,
    *,
    recording_id: int | None = None,
    attempt: int | None = None,
    account_id: int | None = None,
) -> dict[str, Any] | None:
    """One recording of a session, with its audio (``wav``): the one with ``recording_id``,
    else the one of ``attempt``, else the last; only the account's when ``account_id`` is
    given. None when there is no such recording."""
    query = sa.select(*_LISTED, _r.wav).where(_r.call_session_id == session_id)
    if recording_id is not None:
        query = query.where(_r.id == recording_id)
    if attempt is not None:
        query = query.where(_r.attempt == attempt)
    if account_id is not None:
        query = query.where(_r.account_id == account_id)
    row = conn.execute(query.order_by(_r.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


# The Data API's fields (store/reports/calls.py): correlated on call_sessions.id.
def recording_ids_expr() -> ColumnElement[Any]:
    """A session's recording ids as one string, "3,7" (NULL: none); :func:`read_ids` reads
    it (the database may list them in any order)."""
    return (
        sa.select(sa.func.aggregate_strings(sa.cast(_r.id, sa.String), ","))
        .where(_r.call_session_id == call_sessions.c.id)
        .scalar_subquery()
    )


def read_ids(value: Any) -> list[str]:
    """:func:`recording_ids_expr`'s value as the report's list of string ids, oldest first."""
    if not value:
        return []
    return sorted(str(value).split(","), key=int)


def last_recording_path_expr() -> ColumnElement[Any]:
    """The download path of a session's last recording (NULL: none)."""
    last = (
        sa.select(sa.func.max(_r.id))
        .where(_r.call_session_id == call_sessions.c.id)
        .scalar_subquery()
    )
    session = sa.cast(call_sessions.c.id, sa.String)
    return sa.literal(_PATH_HEAD) + session + "/" + sa.cast(last, sa.String) + _PATH_TAIL
