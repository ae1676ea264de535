"""What ``/metrics`` counts in the database at scrape time (every process the same truth)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine

from vestnik.store.schema import call_sessions, webhook_deliveries

# Delivery states that are not delivered (yet): to send or retry, and given up.
WAITING_DELIVERY_STATES = ("pending", "parked")


@dataclass(frozen=True)
class Gauges:
    # (state, finish_reason or None while not finished, sessions)
    sessions: list[tuple[str, str | None, int]]
    # delivery state → (deliveries, created_at of the oldest), for WAITING_DELIVERY_STATES
    waiting_deliveries: dict[str, tuple[int, float | None]]


def read_gauges(engine: Engine) -> Gauges:
    with engine.connect() as conn:
        sessions = conn.execute(
            sa.select(
                call_sessions.c.state, call_sessions.c.finish_reason, sa.func.count()
            ).group_by(call_sessions.c.state, call_sessions.c.finish_reason)
        ).all()
        deliveries = conn.execute(
            sa.select(
                webhook_deliveries.c.state,
                sa.func.count(),
                sa.func.min(webhook_deliveries.c.created_at),
            )
            .where(webhook_deliveries.c.state.in_(WAITING_DELIVERY_STATES))
            .group_by(webhook_deliveries.c.state)
        ).all()
    return Gauges(
        [(str(state), reason, int(count)) for state, reason, count in sessions],
        {str(state): (int(count), first) for state, count, first in deliveries},
    )
