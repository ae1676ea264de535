"""Call recordings (``record``): one WAV per answered attempt, in ``call_recordings``."""

from __future__ import annotations

from sqlalchemy import Connection

from vestnik.calls.ports import Recording
from vestnik.store.db import inserted_id
from vestnik.store.schema import call_recordings


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
