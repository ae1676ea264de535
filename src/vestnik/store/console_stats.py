"""What the console's overview counts: sessions placed per time bucket by state and finish
reason, the sessions live and queued now, the webhook backlog, a timed database probe.

Every count is scoped to ``accounts`` (None: every account). The window query names the
accounts explicitly (``account_id IN (…)``, every account for an operator) so that PostgreSQL
reads ``ix_call_sessions_account_created`` (account_id, created_at) and only the window's rows;
the live counts read ``ix_call_sessions_account_state``. Functions take a ``Connection`` and
write nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vestnik.calls.model import ACTIVE_STATES, CallState
from vestnik.store.db import Connection
from vestnik.store.schema import accounts, call_sessions, webhook_deliveries, webhooks

_c = call_sessions.c
_d = webhook_deliveries.c
# The session states of the domain's vocabulary, in their order: those on a call now, and
# every state before the end (queued too).
ACTIVE = tuple(s.value for s in CallState if s in ACTIVE_STATES)
LIVE_STATES = tuple(s for s in ACTIVE if s != CallState.QUEUED)


def _account_ids(conn: Connection, visible: Sequence[int] | None) -> list[int]:
    if visible is not None:
        return list(visible)
    return [int(i) for i in conn.execute(sa.select(accounts.c.id)).scalars()]


def _bucket(conn: Connection, since: float, seconds: int) -> Any:
    """The bucket number of ``created_at`` (0 from ``since``): a floor on PostgreSQL (its cast
    rounds), a cast on SQLite (it truncates, the same for the window's non-negative values)."""
    offset = (_c.created_at - since) / seconds
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.floor(offset), sa.Integer)
    return sa.cast(offset, sa.Integer)


@dataclass(frozen=True)
class PlacedCount:
    bucket: int  # 0 = the bucket that begins at ``since``
    state: str
    finish_reason: str | None
    sessions: int


def placed_by_bucket(
    conn: Connection, visible: Sequence[int] | None, since: float, until: float, seconds: int
) -> list[PlacedCount]:
    """Sessions created in [since, until), counted by bucket of ``seconds``, state and
    finish_reason."""
    ids = _account_ids(conn, visible)
    if not ids:
        return []
    bucket = _bucket(conn, since, seconds).label("bucket")
    rows = conn.execute(
        sa.select(bucket, _c.state, _c.finish_reason, sa.func.count())
        .where(_c.account_id.in_(ids), _c.created_at >= since, _c.created_at < until)
        .group_by(bucket, _c.state, _c.finish_reason)
    ).all()
    return [PlacedCount(int(b), str(s), r, int(n)) for b, s, r, n in rows]


@dataclass(frozen=True)
class Now:
    live: int  # dialing, ringing or answered
    live_by_state: dict[str, int]
    queued: int
    queued_later: int  # of the queued, those not to be dialled before a later time
    pending: int  # webhook deliveries to send or retry
    parked: int  # webhook deliveries given up on
    oldest_pending_at: float | None  # created_at of the oldest pending delivery


def counts_now(conn: Connection, visible: Sequence[int] | None, at: float) -> Now:
    """The sessions live and queued now, and the webhook backlog."""
    ids = _account_ids(conn, visible)
    states: dict[str, int] = {}
    later = 0
    if ids:
        in_states = _c.state.in_(ACTIVE)
        rows = conn.execute(
            sa.select(_c.state, sa.func.count(), sa.func.count(_c.id).filter(_c.scheduled_at > at))
            .where(_c.account_id.in_(ids), in_states)
            .group_by(_c.state)
        ).all()
        for state, count, scheduled in rows:
            states[str(state)] = int(count)
            later += int(scheduled) if state == CallState.QUEUED else 0
    backlog = (
        sa.select(_d.state, sa.func.count(), sa.func.min(_d.created_at))
        .where(_d.state.in_(("pending", "parked")))
        .group_by(_d.state)
    )
    if visible is not None:
        mine = sa.select(webhooks.c.id).where(webhooks.c.account_id.in_(list(visible)))
        backlog = backlog.where(_d.webhook_id.in_(mine.scalar_subquery()))
    waiting = {str(s): (int(n), first) for s, n, first in conn.execute(backlog).all()}
    pending, oldest = waiting.get("pending", (0, None))
    return Now(
        live=sum(states.get(s, 0) for s in LIVE_STATES),
        live_by_state={s: states.get(s, 0) for s in LIVE_STATES},
        queued=states.get(CallState.QUEUED, 0),
        queued_later=later,
        pending=pending,
        parked=waiting.get("parked", (0, None))[0],
        oldest_pending_at=None if oldest is None else float(oldest),
    )


def probe_ms(conn: Connection) -> float:
    """Milliseconds the database takes to answer ``SELECT 1`` on this connection."""
    started = time.perf_counter()
    conn.execute(sa.select(sa.literal(1))).scalar_one()
    return (time.perf_counter() - started) * 1000.0
