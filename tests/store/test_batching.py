"""Group commit (the dialer's database thread), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

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


def _pause(conn: Connection, seconds: float) -> None:
    time.sleep(seconds)  # inside the batch's transaction, holding what it has locked so far


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_dialers_batches_lock_accounts_in_one_order(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two dialers, each with a batch that starts a call of account A and one of account B in
    opposite orders, overlapping: taken in batch order the account rows deadlock (PostgreSQL
    fails one batch, its operations are retried one by one); taken in id order first
    (``lock_accounts``), the second batch waits for the first and both commit as batches."""
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        a, b = new_account(conn, "a"), new_account(conn, "b")
        one = [queue_session(conn, a), queue_session(conn, b)]
        two = [queue_session(conn, b), queue_session(conn, a)]
        store.claim_sessions(conn, "one/1", 2, 30, now())
        store.claim_sessions(conn, "two/1", 2, 30, now())
    first, second = GroupCommit(engine), GroupCommit(engine)

    def batch(db: GroupCommit, owner: str, sids: list[int], accounts: list[int]) -> list[Any]:
        return [
            db.run(store.begin_dialing, sids[0], owner, 30.0, account=accounts[0]),
            db.run(_pause, 0.5),
            db.run(store.begin_dialing, sids[1], owner, 30.0, account=accounts[1]),
        ]

    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                *batch(first, "one/1", one, [a, b]), *batch(second, "two/1", two, [b, a])
            ),
            20,
        )
    finally:
        await first.close()
        await second.close()
        engine.dispose()
    started = [r.outcome for r in results if r is not None]
    assert started == [store.DialStart.STARTED] * 4
    assert (first.batches, second.batches) == (1, 1)  # no batch was retried one by one
    assert "retrying each" not in caplog.text


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_an_account_cap_lock_does_not_hold_up_inserts_for_the_account(db_url: str) -> None:
    """``begin_dialing`` locks the account row FOR NO KEY UPDATE: rows inserted for the
    account meanwhile (a new session from the API, an event of another dialer) only take FOR
    KEY SHARE on it for their foreign key, and go through at once."""
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        account = new_account(conn)
        sid = queue_session(conn, account)
        store.claim_sessions(conn, "one/1", 1, 30, now())
    try:
        with engine.begin() as holding:
            begun = store.begin_dialing(holding, sid, "one/1", 30.0)
            assert begun.outcome is store.DialStart.STARTED
            with engine.begin() as other:
                other.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                start = time.monotonic()
                queue_session(other, account)  # fails with LockNotAvailable if it waits 2 s
                assert time.monotonic() - start < 1.0
    finally:
        engine.dispose()
