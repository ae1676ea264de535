"""Transactional outbox: call events are written in the same transaction as the state change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from vestnik.events.model import EventType, notification_payload
from vestnik.store.schema import call_events


def record_event(
    conn: Connection, session: Mapping[str, Any], event_type: EventType, at: float
) -> int:
    """Append one event for ``session`` (a call_sessions row as it is after the change)."""
    return int(
        conn.execute(
            call_events.insert().values(
                account_id=session["account_id"],
                call_session_id=session["id"],
                event_type=event_type.value,
                payload=notification_payload(session, event_type, at),
                created_at=at,
                dispatched=False,
            )
        ).inserted_primary_key[0]
    )
