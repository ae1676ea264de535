"""Transactional outbox: call events are written in the same transaction as the state change."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.calls.events import EventType, notification_payload
from vestnik.calls.session import CallSession
from vestnik.store.db import inserted_id
from vestnik.store.schema import call_events

# Built once: a statement rebuilt with ``.values(...)`` on every call costs SQLAlchemy a fresh
# cache key and bind set each time (~5x the execute of a constant statement with parameters).
_INSERT_EVENT = call_events.insert()
_FINISHED_EVENT_ID = (
    sa.select(call_events.c.id)
    .where(
        call_events.c.call_session_id == sa.bindparam("session_id"),
        call_events.c.event_type == EventType.CALL_FINISHED.value,
    )
    .limit(1)
)


def record_event(conn: Connection, session: CallSession, event_type: EventType, at: float) -> int:
    """Append one event for ``session`` (as it is after the change).

    ``call_finished`` is recorded at most once per session: a second call (a retried final
    transition) returns the id of the first, so a client sees exactly one finish per session.
    """
    if event_type is EventType.CALL_FINISHED:
        existing = conn.execute(_FINISHED_EVENT_ID, {"session_id": session.id}).scalar()
        if existing is not None:
            return int(existing)
    return inserted_id(
        conn.execute(
            _INSERT_EVENT,
            {
                "account_id": session.account_id,
                "call_session_id": session.id,
                "event_type": event_type.value,
                "payload": notification_payload(session, event_type, at),
                "created_at": at,
                "dispatched": False,
            },
        )
    )
