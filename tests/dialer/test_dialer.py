"""The Dialer's paths that end before or at the INVITE, on SQLite and PostgreSQL, real renderer.

Calls that really ring are in ``test_calls.py`` (SIPp as the trunk).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.dialer import (
    ExplodingTelephony,
    NeverDialTelephony,
    dialer_config,
)
from tests.support.processes import async_wait_until
from tests.support.sessions import events, new_account, queue_session, session
from vestnik.dialer import Dialer
from vestnik.media.render import AudioRenderer
from vestnik.store import create_db_engine, leases
from vestnik.store import sessions as store
from vestnik.store.admin_blacklist import blacklist_add
from vestnik.store.db import now


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


def _state(engine: Engine, sid: int) -> str:
    return str(session(engine, sid)["state"])


async def test_blacklisted_and_released_sessions_are_never_dialled(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    with db.begin() as conn:
        account_id = new_account(conn)
        blacklist_add(conn, account_id, "79260000666")
        blocked = queue_session(conn, account_id, contact="79260000666")
        released = queue_session(conn, account_id, release_requested=True)
    config = dialer_config(tmp_path, db_url)
    telephony = NeverDialTelephony()
    dialer = Dialer(config, db, telephony, AudioRenderer(config, db))
    await dialer.start()
    try:
        await async_wait_until(lambda: _state(db, blocked) == _state(db, released) == "finished")
    finally:
        await dialer.stop()
    assert telephony.dialled == []
    assert session(db, blocked)["finish_reason"] == "numa_in_black_list"
    assert session(db, released)["finish_reason"] == "released"
    for sid in (blocked, released):
        assert session(db, sid)["dial_attempts"] == 0
        assert events(db, sid) == ["call_finished"]


async def test_account_at_its_cap_ends_max_out_call_reached(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    with db.begin() as conn:
        account_id = new_account(conn, max_concurrent_calls=1)
        # A call of this account held by another dialer process.
        busy = queue_session(conn, account_id)
        store.claim_sessions(conn, "other:5060/r", 1, 600, now())
        store.begin_dialing(conn, busy, "other:5060/r", 600, now())
        waiting = queue_session(conn, account_id)
    config = dialer_config(tmp_path, db_url, slot_wait_seconds=0.6)
    telephony = NeverDialTelephony()
    dialer = Dialer(config, db, telephony, AudioRenderer(config, db))
    started = now()
    await dialer.start()
    try:
        await async_wait_until(lambda: _state(db, waiting) == "finished")
    finally:
        await dialer.stop()
    row = session(db, waiting)
    assert row["finish_reason"] == "max_out_call_reached"
    assert "account" in row["finish_detail"]
    assert row["end_at"] - started >= 0.6
    assert telephony.dialled == []
    assert events(db, waiting) == ["call_finished"]
    assert _state(db, busy) == "dialing"  # the other dialer's call is not ours to touch


async def test_adapter_exception_still_finishes_the_session(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    with db.begin() as conn:
        account_id = new_account(conn)
        sid = queue_session(conn, account_id)
    config = dialer_config(tmp_path, db_url)
    telephony = ExplodingTelephony()
    dialer = Dialer(config, db, telephony, AudioRenderer(config, db))
    await dialer.start()
    try:
        await async_wait_until(lambda: _state(db, sid) == "finished")
    finally:
        await dialer.stop()
    row = session(db, sid)
    assert telephony.dialled == [sid]
    assert row["finish_reason"] == "internal_error"
    assert "injected telephony failure" in row["finish_detail"]
    assert row["dial_attempts"] == 1
    assert events(db, sid) == ["call_started", "call_finished"]


async def test_restart_settles_previous_run_without_redialling(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    config = dialer_config(tmp_path, db_url, id="box:5070")
    previous = leases.lease_owner_for("box:5070", "deadbeef")
    with db.begin() as conn:
        account_id = new_account(conn)
        in_call = queue_session(conn, account_id)
        undialled = queue_session(conn, account_id)
        store.claim_sessions(conn, previous, 2, 600, now())  # leases far from lapsing
        store.begin_dialing(conn, in_call, previous, 600, now())
    telephony = ExplodingTelephony()
    dialer = Dialer(config, db, telephony, AudioRenderer(config, db))
    await dialer.start()
    try:
        # Settled by start() itself, not by lease expiry.
        assert _state(db, in_call) == "finished"
        await async_wait_until(lambda: _state(db, undialled) == "finished")
    finally:
        await dialer.stop()
    row = session(db, in_call)
    assert row["finish_reason"] == "internal_error"
    assert "previous run" in row["finish_detail"]
    assert row["dial_attempts"] == 1
    assert telephony.dialled == [undialled]  # the in-call one was never placed again
    assert session(db, undialled)["dial_attempts"] == 1


async def test_sweep_finishes_calls_of_a_dialer_that_died(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    with db.begin() as conn:
        account_id = new_account(conn)
        sid = queue_session(conn, account_id)
        store.claim_sessions(conn, "ghost:5060/1", 1, 0.3, now())
        store.begin_dialing(conn, sid, "ghost:5060/1", 0.3, now())
    config = dialer_config(tmp_path, db_url, lease_seconds=0.4)
    dialer = Dialer(config, db, NeverDialTelephony(), AudioRenderer(config, db))
    await dialer.start()
    try:
        await async_wait_until(lambda: _state(db, sid) == "finished", timeout=5)
    finally:
        await dialer.stop()
    row = session(db, sid)
    assert row["finish_reason"] == "internal_error"
    assert "lease expired" in row["finish_detail"]


async def test_graceful_stop_gives_waiting_sessions_back(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    with db.begin() as conn:
        account_id = new_account(conn, max_concurrent_calls=1)
        busy = queue_session(conn, account_id)
        store.claim_sessions(conn, "other:5060/r", 1, 600, now())
        store.begin_dialing(conn, busy, "other:5060/r", 600, now())
        waiting = [queue_session(conn, account_id) for _ in range(3)]
    config = dialer_config(tmp_path, db_url, slot_wait_seconds=60)
    dialer = Dialer(config, db, NeverDialTelephony(), AudioRenderer(config, db))
    await dialer.start()
    await async_wait_until(lambda: dialer.active_sessions == 3, what="sessions claimed")
    assert all(session(db, sid)["lease_owner"] == dialer.owner for sid in waiting)
    t0 = now()
    await dialer.stop()
    assert now() - t0 < 2
    for sid in waiting:
        row = session(db, sid)
        assert row["state"] == "queued" and row["lease_owner"] is None
        assert events(db, sid) == []


async def test_wake_claims_at_once_from_any_thread(tmp_path: Path, db_url: str, db: Engine) -> None:
    config = dialer_config(tmp_path, db_url, poll_interval_seconds=30.0)
    dialer = Dialer(config, db, NeverDialTelephony(), AudioRenderer(config, db))
    with db.begin() as conn:
        account_id = new_account(conn)
    await dialer.start()
    try:
        await asyncio.sleep(0.2)  # the claim loop is now asleep for 30 s
        with db.begin() as conn:
            sid = queue_session(conn, account_id, release_requested=True)
        started = time.monotonic()
        await asyncio.to_thread(dialer.wake)
        await async_wait_until(lambda: _state(db, sid) == "finished", timeout=5)
        assert time.monotonic() - started < 1.0
    finally:
        stopping = time.monotonic()
        await dialer.stop()
    assert time.monotonic() - stopping < 2  # stop() wakes the sleeping claim loop
    assert session(db, sid)["finish_reason"] == "released"
