"""Group commit (the dialer's database thread), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from tests.support.sessions import events, new_account, queue_session
from tests.support.tcp_proxy import TcpProxy
from vestnik.store import create_db_engine
from vestnik.store import sessions as store
from vestnik.store.batching import GroupCommit
from vestnik.store.db import now
from vestnik.store.deadline import DatabaseTimeout


async def test_waiting_operations_share_transactions_and_keep_order(engine: Engine) -> None:
    with engine.begin() as conn:
        account_id = new_account(conn, max_concurrent_calls=3)
        ids = [queue_session(conn, account_id) for _ in range(40)]
        store.claim_sessions(conn, "me/1", 40, 30, now())
    db = GroupCommit(engine)
    try:
        outcomes = await asyncio.gather(
            *(db.run(store.begin_dialing, sid, "me/1", 30.0, now()) for sid in ids)
        )
    finally:
        await db.close()
    assert db.operations == 40
    assert db.batches < 40  # coalesced
    # In submission order, each saw the ones before it: exactly the cap started.
    kinds = [o.outcome for o in outcomes]
    assert kinds[:3] == [store.DialStart.STARTED] * 3
    assert kinds[3:] == [store.DialStart.ACCOUNT_FULL] * 37
    assert events(engine, ids[0]) == ["call_started"]


def _boom(conn: Connection) -> None:
    conn.execute(sa.text("SELECT 1"))
    raise RuntimeError("injected failure")


def _one(conn: Connection) -> int:
    return int(conn.execute(sa.text("SELECT 1")).scalar_one())


async def test_a_failing_operation_fails_alone(engine: Engine) -> None:
    db = GroupCommit(engine)
    try:
        results = await asyncio.gather(
            db.run(_one), db.run(_boom), db.run(_one), return_exceptions=True
        )
    finally:
        await db.close()
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], RuntimeError)


async def test_a_cancelled_caller_does_not_break_the_batch(engine: Engine) -> None:
    db = GroupCommit(engine)
    try:
        first = asyncio.ensure_future(db.run(_one))
        second = asyncio.ensure_future(db.run(_one))
        await asyncio.sleep(0)
        second.cancel()
        assert await first == 1
        with pytest.raises(asyncio.CancelledError):
            await second
        assert await db.run(_one) == 1
    finally:
        await db.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_database_that_stops_answering_fails_the_whole_batch_at_once(
    db_url: str,
) -> None:
    timeout = 1.0
    with TcpProxy.in_front_of(db_url) as proxy:
        engine = create_db_engine(proxy.route(db_url), timeout=timeout)
        db = GroupCommit(engine)
        try:
            assert await db.run(_one) == 1
            proxy.black_hole()
            start = time.monotonic()
            # One batch: one deadline for all, not one per operation retried alone.
            results = await asyncio.gather(
                *(db.run(_one) for _ in range(5)), return_exceptions=True
            )
            took = time.monotonic() - start
            assert all(isinstance(r, DatabaseTimeout) for r in results), results
            assert took < 2 * timeout
            proxy.forward()
            assert await db.run(_one) == 1
        finally:
            await db.close()
            engine.dispose()
