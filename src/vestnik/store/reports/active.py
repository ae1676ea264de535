"""The sessions ``list.calls`` shows: the account's active ones."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.calls import ACTIVE_STATES
from vestnik.store.schema import call_sessions

_cs = call_sessions.c
_ACTIVE = sorted(s.value for s in ACTIVE_STATES)
_LISTED_COLUMNS = (
    _cs.id, _cs.direction, _cs.created_at, _cs.dial_at, _cs.answer_at, _cs.caller_number,
    _cs.contact, _cs.external_id, _cs.state, _cs.scheduled_at, _cs.attempt_count, _cs.options,
)  # fmt: skip


def active_sessions(
    conn: Connection, account_id: int, direction: str | None, caller_number: str | None
) -> list[dict[str, Any]]:
    """The account's sessions not finished yet, oldest first; optionally only those of one
    direction and one caller number."""
    query = sa.select(*_LISTED_COLUMNS).where(_cs.account_id == account_id, _cs.state.in_(_ACTIVE))
    if direction is not None:
        query = query.where(_cs.direction == direction)
    if caller_number is not None:
        query = query.where(_cs.caller_number == caller_number)
    return [dict(row) for row in conn.execute(query.order_by(_cs.id)).mappings()]
