"""The dialer when its PostgreSQL stops answering (behind the test's TCP proxy)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from tests.support.dialer import NeverDialTelephony, dialer_config
from tests.support.processes import async_wait_until
from tests.support.sessions import new_account, queue_session, session
from tests.support.tcp_proxy import TcpProxy
from vestnik.dialer import Dialer
from vestnik.media.render import AudioRenderer
from vestnik.store import create_db_engine
from vestnik.store import sessions as store
from vestnik.store.db import now
from vestnik.store.schema import call_sessions

pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


async def test_after_an_outage_the_sweep_waits_one_lease_so_live_dialers_renew_first(
    tmp_path: Path, db_url: str
) -> None:
    config = dialer_config(tmp_path, db_url)
    lease = config.dialer.lease_seconds  # the sweep runs every half lease
    direct = create_db_engine(db_url)
    with TcpProxy.in_front_of(db_url) as proxy:
        engine = create_db_engine(proxy.route(db_url), timeout=1.0)
        dialer = Dialer(config, engine, NeverDialTelephony(), AudioRenderer(config, engine))
        await dialer.start()
        try:
            proxy.cut()
            with direct.begin() as conn:  # a call of another dialer, its lease lapsed
                lapsed = queue_session(conn, new_account(conn))
                store.claim_sessions(conn, "elsewhere:5060/r", 1, 600, now())
                store.begin_dialing(conn, lapsed, "elsewhere:5060/r", 600, now())
                conn.execute(
                    call_sessions.update()
                    .where(call_sessions.c.id == lapsed)
                    .values(lease_expires_at=now() - 1)
                )
            await asyncio.sleep(lease / 2 + 0.5)  # a sweep ran meanwhile, and failed
            proxy.forward()
            restored = time.monotonic()
            await async_wait_until(
                lambda: session(direct, lapsed)["state"] == "finished", 15, "the sweep"
            )
            settled_after = time.monotonic() - restored
        finally:
            await dialer.stop()
            engine.dispose()
    row = session(direct, lapsed)
    direct.dispose()
    assert row["finish_reason"] == "internal_error" and "lease expired" in row["finish_detail"]
    # Not at the next half-lease sweep: one whole lease after the database answered again.
    assert settled_after >= lease - 0.3


async def test_session_that_cannot_start_dialing_in_an_outage_is_not_finished(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = dialer_config(tmp_path, db_url, slot_wait_seconds=30.0)
    direct = create_db_engine(db_url)
    with direct.begin() as conn:
        account_id = new_account(conn, max_concurrent_calls=1)
        busy = queue_session(conn, account_id)  # the account's one call, in another process
        store.claim_sessions(conn, "elsewhere:5060/r", 1, 600, now())
        store.begin_dialing(conn, busy, "elsewhere:5060/r", 600, now())
        waiting = queue_session(conn, account_id)
    with TcpProxy.in_front_of(db_url) as proxy:
        engine = create_db_engine(proxy.route(db_url), timeout=1.0)
        dialer = Dialer(config, engine, NeverDialTelephony(), AudioRenderer(config, engine))
        await dialer.start()
        try:
            # Claimed, and re-checking the account's cap every 250 ms.
            await async_wait_until(lambda: dialer.active_sessions == 1, 10, "the claim")
            proxy.cut()
            await async_wait_until(lambda: dialer.active_sessions == 0, 10, "it to let go")
            await asyncio.sleep(0.5)
            proxy.forward()
            await asyncio.sleep(1.5)  # a final write would have been retried by now
            row = session(direct, waiting)
        finally:
            await dialer.stop()
            engine.dispose()
    direct.dispose()
    # Never dialled, so not finished: it stays queued for whoever claims it next.
    assert row["state"] == "queued" and row["finish_reason"] is None, row
    assert row["dial_attempts"] == 0
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1 and loud[0].startswith("database unavailable"), loud
