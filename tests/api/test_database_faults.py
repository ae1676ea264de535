"""A database that does not answer: every API request gets ``internal_error`` within
``[database] timeout``, nothing is written, one log line tells the outage, and the next
request after it works. Real uvicorn, real PostgreSQL behind a TCP proxy the test controls
(black hole: connections kept open, nothing answered), real SQLite locked by a real writer.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.api import Api, error_of, make_api
from tests.support.tcp_proxy import TcpProxy
from vestnik.config import Config
from vestnik.store import create_db_engine

PG_TIMEOUT = 1.0  # below psycopg's shortest connect timeout (2 s): the bound is still kept
MARGIN = 1.5  # scheduling on a loaded 2-core machine
INTERNAL_ERROR = (-32603, "internal_error")
# More requests at once than anyio's worker threads (40) and the pool's connections (30).
CROWD = 60


def _config(timeout: float, db_calls: str = "auto") -> Config:
    config = Config()
    config.database.timeout = timeout
    config.server.db_calls = db_calls
    return config


@contextmanager
def _served(url: str, config: Config) -> Iterator[Api]:
    engine = create_db_engine(url, timeout=config.database.timeout)
    with contextmanager(make_api)(url, config, engine=engine) as api:
        yield api


def _timed_start(api: Api) -> tuple[dict[str, Any], float]:
    start = time.monotonic()
    reply = api.start()
    return reply, time.monotonic() - start


def _outage_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"
    return [r.getMessage() for r in caplog.records if r.name == "vestnik.database"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("db_calls", ["thread", "inline", "async"])
def test_black_holed_postgresql_gives_internal_error_in_time_then_recovers(
    db_url: str, db_calls: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vestnik")
    with (
        TcpProxy.in_front_of(db_url) as proxy,
        _served(proxy.route(db_url), _config(PG_TIMEOUT, db_calls)) as api,
    ):
        assert "result" in api.start()  # a connection through the proxy is kept
        time.sleep(PG_TIMEOUT + 0.5)  # idle longer than the bound: not a fault
        assert "result" in api.start()
        proxy.black_hole()
        for _ in range(2):  # first on the pooled connection, then on new ones
            reply, took = _timed_start(api)
            assert error_of(reply) == INTERNAL_ERROR
            assert took < PG_TIMEOUT + MARGIN
        proxy.forward()
        assert "result" in api.start()
        assert len(api.sessions()) == 3  # the refused requests wrote nothing
    down, back = _outage_log(caplog)
    assert down == (
        "database unavailable (api): the database did not answer in time ([database] timeout 1 s)"
    )
    assert back.startswith("database available again (api)")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("db_calls", ["thread", "async"])
def test_requests_queued_for_a_thread_are_answered_in_time_too(db_url: str, db_calls: str) -> None:
    """More requests than threads (thread) or than the hot path's connections (async)."""
    with (
        TcpProxy.in_front_of(db_url) as proxy,
        _served(proxy.route(db_url), _config(PG_TIMEOUT, db_calls)) as api,
    ):
        assert "result" in api.start()
        proxy.black_hole()
        with ThreadPoolExecutor(CROWD) as pool:
            replies = list(pool.map(lambda _: _timed_start(api), range(CROWD)))
        assert {error_of(reply) for reply, _ in replies} == {INTERNAL_ERROR}
        assert max(took for _, took in replies) < PG_TIMEOUT + MARGIN
        proxy.forward()
        assert "result" in api.start()
        assert len(api.sessions()) == 2


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("db_calls", ["thread", "async"])
def test_postgresql_lock_held_too_long_gives_internal_error_in_time(
    db_url: str, db_calls: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vestnik")
    timeout = 1.0
    with _served(db_url, _config(timeout, db_calls)) as api:
        assert "result" in api.start()
        holder = create_db_engine(db_url)
        with holder.begin() as conn:  # another session keeps the table locked meanwhile
            conn.exec_driver_sql("LOCK TABLE call_sessions IN ACCESS EXCLUSIVE MODE")
            reply, took = _timed_start(api)
        holder.dispose()
        assert error_of(reply) == INTERNAL_ERROR
        assert took < timeout + MARGIN  # no second wait to read the limits for the reply
        assert "result" in api.start()
        assert len(api.sessions()) == 2
    down, back = _outage_log(caplog)
    assert down.startswith("database unavailable (api): the database did not answer in time")
    assert back.startswith("database available again (api)")


@pytest.mark.parametrize("db_calls", ["inline", "thread"])
def test_locked_sqlite_gives_internal_error_in_time(
    sqlite_url: str, db_calls: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vestnik")
    timeout = 1.0
    with _served(sqlite_url, _config(timeout, db_calls)) as api:
        assert "result" in api.start()
        writer = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        try:
            reply, took = _timed_start(api)
        finally:
            writer.rollback()
            writer.close()
        assert error_of(reply) == INTERNAL_ERROR
        assert took < timeout + MARGIN
        assert "result" in api.start()
        assert len(api.sessions()) == 2
    down, back = _outage_log(caplog)
    assert down == "database unavailable (api): (sqlite3.OperationalError) database is locked"
    assert back.startswith("database available again (api)")
