"""Holding claimed sessions: lease renewal, giving back, release requests, crash recovery.

A dialer run's lease owner is ``<dialer id>/<run token>``. It renews the leases of every
session it holds; a session whose lease lapsed is settled by a recovery pass (the same dialer
restarted, at once; any dialer's sweep, once the lease lapsed): an undialled session goes back
to the queue, a possibly dialled one is finished ``internal_error`` by the one finish rule
(``store.sessions.finish_where``), never dialled again. Functions take a ``Connection`` inside
a transaction and commit nothing themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from vestnik.calls import FinishReason
from vestnik.store.account_calls import CALL_STATES
from vestnik.store.schema import call_sessions
from vestnik.store.sessions import IS_QUEUED, NOT_FINISHED, finish_where

_c = call_sessions.c


@dataclass
class Recovery:
    """Sessions put back in the queue and sessions finished by a recovery pass."""

    requeued: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)


def lease_owner_for(dialer_id: str, incarnation: str) -> str:
    """The lease owner string of one run of a dialer: ``<dialer id>/<run token>`` (≤ 64)."""
    return f"{_owner_prefix(dialer_id)}{incarnation[:23]}"


def renew_leases(
    conn: Connection, owner: str, ids: Iterable[int], lease_seconds: float, at: float
) -> set[int]:
    """Extend ``owner``'s lease on ``ids``; returns the ids still held (the rest were lost)."""
    wanted = list(ids)
    if not wanted:
        return set()
    result = conn.execute(
        call_sessions.update()
        .where(_c.id.in_(wanted), _c.lease_owner == owner, NOT_FINISHED)
        .values(lease_expires_at=at + lease_seconds)
        .returning(_c.id)
    )
    return {int(r[0]) for r in result}


def unclaim(conn: Connection, session_id: int, owner: str) -> bool:
    """Give a still-queued session back to the queue (graceful stop before dialing)."""
    result = conn.execute(
        call_sessions.update()
        .where(_c.id == session_id, _c.lease_owner == owner, IS_QUEUED)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return result.rowcount > 0


def held_by(conn: Connection, session_id: int, owner: str) -> bool:
    """Whether ``owner`` still holds the session and it is not finished."""
    held = sa.select(_c.id).where(_c.id == session_id, _c.lease_owner == owner, NOT_FINISHED)
    return conn.execute(held).first() is not None


def release_requested(conn: Connection, owner: str) -> list[int]:
    """Ids of ``owner``'s calls in progress that ``release.call`` asked to end.

    Only the call states are scanned (the (state, id) index keeps this cheap however long the
    queue is): ``release_session`` finishes a queued session itself, and a claimed queued one
    that was flagged is settled by the claim or by ``begin_dialing``.
    """
    result = conn.execute(
        sa.select(_c.id).where(
            _c.state.in_(CALL_STATES),
            _c.release_requested.is_(True),
            _c.lease_owner == owner,
        )
    )
    return [int(r[0]) for r in result]


def recover_previous_run(conn: Connection, dialer_id: str, owner: str, at: float) -> Recovery:
    """At start-up: settle what an earlier run of this same dialer left unfinished.

    The earlier run is dead (same identity, new incarnation), so there is no need to wait
    for its leases to lapse: undialled sessions go back to the queue, the rest are finished.
    """
    prefix = _owner_prefix(dialer_id)
    stale = sa.and_(
        _c.lease_owner.like(_like_escape(prefix) + "%", escape="\\"),
        _c.lease_owner != owner,
    )
    return _recover(conn, stale, at, "a previous run of this dialer stopped mid-call (restart)")


def recover_expired(conn: Connection, at: float, limit: int = 500) -> Recovery:
    """Periodic sweep: settle sessions whose dialer stopped renewing its lease."""
    expired = sa.and_(_c.lease_owner.is_not(None), _c.lease_expires_at < at)
    return _recover(conn, expired, at, "dialer lost mid-call (lease expired)", limit=limit)


def _recover(
    conn: Connection, stale: ColumnElement[bool], at: float, why: str, limit: int = 10_000
) -> Recovery:
    recovery = Recovery()
    # Undialled: nothing left the building, so the session can be dialled by anyone.
    requeued = conn.execute(
        call_sessions.update()
        .where(stale, IS_QUEUED)
        .values(lease_owner=None, lease_expires_at=None)
        .returning(_c.id)
    )
    recovery.requeued = sorted(int(r[0]) for r in requeued)
    # Possibly dialled: finish, never redial. Lock the rows (skipping ones a live dialer is
    # writing right now) and finish each with its own guarded UPDATE and event.
    candidates = conn.execute(
        sa.select(_c.id, _c.lease_owner, _c.state)
        .where(stale, _c.state.in_(CALL_STATES))
        .order_by(_c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for session_id, old_owner, state in candidates:
        finished = finish_where(
            conn,
            sa.and_(_c.id == session_id, _c.lease_owner == old_owner, stale),
            at,
            FinishReason.INTERNAL_ERROR,
            detail=f"{why}; dialer {old_owner} was in state {state}",
        )
        if finished is not None:
            recovery.finished.append(int(session_id))
    return recovery


def _owner_prefix(dialer_id: str) -> str:
    return f"{dialer_id[:40]}/"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
