"""Helpers for the work-queue tests: queued sessions, claims and the dialing transition."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.support.sessions import new_account, queue_session
from vestnik.store import sessions
from vestnik.store.db import now

LEASE = 30.0


def queue_sessions(engine: Engine, count: int, **fields: object) -> tuple[int, list[int]]:
    """A new account with ``count`` queued sessions; (account id, session ids)."""
    with engine.begin() as conn:
        account_id = new_account(conn)
        ids = [queue_session(conn, account_id, **fields) for _ in range(count)]
    return account_id, ids


def claim_ids(engine: Engine, owner: str, limit: int, at: float | None = None) -> list[int]:
    with engine.begin() as conn:
        rows = sessions.claim_sessions(conn, owner, limit, LEASE, now() if at is None else at)
    return [int(r["id"]) for r in rows]


def begin(engine: Engine, session_id: int, owner: str) -> sessions.BeginDialing:
    with engine.begin() as conn:
        return sessions.begin_dialing(conn, session_id, owner, LEASE, now())
