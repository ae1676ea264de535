"""``[database] timeout`` on real PostgreSQL, through a TCP proxy the test controls.

The proxy black-holes the link (connections stay open, nothing is answered): the case that
neither ``statement_timeout`` nor TCP keepalives can end, so only the watchdog's deadline does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.tcp_proxy import TcpProxy
from vestnik.store import create_db_engine
from vestnik.store.deadline import MIN_CONNECT_TIMEOUT, DatabaseTimeout, deadline

pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)

TIMEOUT = 1.0
MARGIN = 1.0  # scheduling on a loaded 2-core machine


@pytest.fixture
def proxy(db_url: str) -> Iterator[TcpProxy]:
    with TcpProxy.in_front_of(db_url) as proxy:
        yield proxy


@pytest.fixture
def bounded(db_url: str, proxy: TcpProxy) -> Iterator[Engine]:
    engine = create_db_engine(proxy.route(db_url), timeout=TIMEOUT)
    yield engine
    engine.dispose()


def _select(engine: Engine, sql: str = "SELECT 1") -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar()


def _timed_failure(engine: Engine, sql: str = "SELECT 1") -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(sa.exc.SQLAlchemyError) as caught:
        _select(engine, sql)
    return caught.value, time.monotonic() - start


def test_server_gets_the_statement_timeout(bounded: Engine) -> None:
    assert _select(bounded, "SHOW statement_timeout") == "1s"
    error, took = _timed_failure(bounded, "SELECT pg_sleep(30)")
    assert isinstance(error, DatabaseTimeout | sa.exc.OperationalError)
    assert took < TIMEOUT + MARGIN
    assert _select(bounded) == 1  # the pool carries on


def test_black_holed_link_ends_in_a_timeout_at_the_deadline(
    bounded: Engine, proxy: TcpProxy
) -> None:
    assert _select(bounded) == 1  # a pooled connection through the proxy
    proxy.black_hole()
    # The pooled connection's pre-ping gets no answer: cut at the deadline, no reconnect.
    error, took = _timed_failure(bounded)
    assert isinstance(error, DatabaseTimeout), error
    assert TIMEOUT - 0.1 < took < TIMEOUT + MARGIN
    # A new connection gets no answer either: waited for until the deadline only (psycopg
    # itself would wait at least 2 s).
    error, took = _timed_failure(bounded)
    assert isinstance(error, DatabaseTimeout), error
    assert TIMEOUT < MIN_CONNECT_TIMEOUT
    assert TIMEOUT - 0.1 < took < TIMEOUT + MARGIN
    proxy.forward()
    assert _select(bounded) == 1


def test_transaction_on_a_link_that_stops_answering_is_cut_at_its_deadline(
    bounded: Engine, proxy: TcpProxy
) -> None:
    start = time.monotonic()
    with pytest.raises(DatabaseTimeout), bounded.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
        proxy.black_hole()
        conn.exec_driver_sql("SELECT 2")
    assert time.monotonic() - start < TIMEOUT + MARGIN
    proxy.forward()
    assert _select(bounded) == 1


def test_deadline_block_bounds_the_work_in_it(bounded: Engine, proxy: TcpProxy) -> None:
    assert _select(bounded) == 1
    proxy.black_hole()
    start = time.monotonic()
    with pytest.raises(DatabaseTimeout), deadline(start + 0.3):
        _select(bounded)
    assert time.monotonic() - start < 0.3 + MARGIN
    # Work that would start after its deadline (it queued that long) fails at once.
    with pytest.raises(DatabaseTimeout), deadline(time.monotonic() - 0.01):
        _select(bounded)
    proxy.forward()
    with deadline(math.inf):
        assert _select(bounded) == 1


def test_connection_the_server_dropped_is_replaced_at_checkout(
    bounded: Engine, db_url: str
) -> None:
    pid = _select(bounded, "SELECT pg_backend_pid()")
    direct = create_db_engine(db_url)
    with direct.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    direct.dispose()
    assert _select(bounded, "SELECT pg_backend_pid()") != pid  # no error reached the caller
