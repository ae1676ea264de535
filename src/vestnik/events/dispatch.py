"""Fan-out: turn undispatched call events into one delivery per subscribed endpoint.

One transaction reads a batch of events in id order, inserts their deliveries and marks them
dispatched, so an event is fanned out exactly once (the unique (event_id, webhook_id) pair
guards it too). Only one dispatcher works at a time: on SQLite ``BEGIN IMMEDIATE`` already
serialises writers, on PostgreSQL a transaction-level advisory lock does; this keeps event N of a
session from reaching the queue after event N+1 when several processes run.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from vestnik.events.webhooks import DeliveryState
from vestnik.store.schema import call_events, webhook_deliveries, webhooks

DISPATCH_BATCH = 1000
# pg_advisory_xact_lock key: "vestnik dispatch" (any constant unique to this lock).
_PG_DISPATCH_LOCK = 0x7665_7374_6469_7370 & 0x7FFF_FFFF_FFFF_FFFF


def dispatch_batch(conn: Connection, at: float, limit: int = DISPATCH_BATCH) -> int:
    """Fan out up to ``limit`` events inside ``conn``'s transaction; returns events handled."""
    if conn.dialect.name == "postgresql":
        got = conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(_PG_DISPATCH_LOCK)))
        if not got.scalar():
            return 0  # another process is dispatching; it will take these events
    events = conn.execute(
        sa.select(
            call_events.c.id,
            call_events.c.account_id,
            call_events.c.call_session_id,
            call_events.c.event_type,
        )
        .where(call_events.c.dispatched.is_(False))
        .order_by(call_events.c.id)
        .limit(limit)
    ).all()
    if not events:
        return 0
    account_ids = {e.account_id for e in events}
    hooks_by_account: dict[int, list[Any]] = defaultdict(list)
    for hook in conn.execute(
        sa.select(webhooks.c.id, webhooks.c.account_id, webhooks.c.events).where(
            webhooks.c.account_id.in_(account_ids), webhooks.c.is_active.is_(True)
        )
    ):
        hooks_by_account[hook.account_id].append(hook)
    rows = [
        {
            "event_id": e.id,
            "webhook_id": hook.id,
            "call_session_id": e.call_session_id,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for e in events
        for hook in hooks_by_account.get(e.account_id, ())
        if e.event_type in (hook.events or ())
    ]
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)
    ids = [e.id for e in events]
    conn.execute(call_events.update().where(call_events.c.id.in_(ids)).values(dispatched=True))
    return len(events)


def dispatch_pending(engine: Engine, at: float, limit: int = DISPATCH_BATCH) -> int:
    """Run one dispatch transaction; returns how many events were fanned out."""
    with engine.begin() as conn:
        return dispatch_batch(conn, at, limit)
