"""DatabaseHealth and Backoff: one line per outage each way, growing delays, rate-limited bugs.

The errors are the exception types SQLAlchemy raises (built here, not provoked: what matters is
how each kind is classified and logged); the real outages are in tests/test_service_db_outage.py.
"""

from __future__ import annotations

import logging
import time

import psycopg
import pytest
import sqlalchemy as sa

from vestnik.store.deadline import DatabaseTimeout
from vestnik.store.health import (
    BACKOFF_CAP_SECONDS,
    Backoff,
    DatabaseHealth,
    is_unavailable,
)

REFUSED = sa.exc.OperationalError(
    "SELECT 1", {}, psycopg.OperationalError("connection failed: Connection refused\nmore")
)


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "vestnik.database"]


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (REFUSED, True),
        (DatabaseTimeout("no answer"), True),
        (sa.exc.TimeoutError("QueuePool limit reached"), True),
        (sa.exc.OperationalError("x", {}, psycopg.errors.QueryCanceled()), True),
        (sa.exc.OperationalError("x", {}, psycopg.errors.DeadlockDetected()), False),
        (sa.exc.IntegrityError("x", {}, psycopg.errors.UniqueViolation()), False),
        (ValueError("a bug"), False),
    ],
)
def test_outages_are_told_from_other_failures(exc: BaseException, outage: bool) -> None:
    assert is_unavailable(exc) is outage


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vestnik.database")
    health = DatabaseHealth()
    assert health.up
    for who in ("dialer claim", "webhook claim", "dialer claim"):
        assert health.failed(who, REFUSED, time.monotonic())
    assert not health.up
    health.ok("webhook dispatch", time.monotonic())
    health.ok("dialer claim", time.monotonic())
    assert health.up
    down, back = _lines(caplog)
    assert down.levelno == logging.WARNING and down.exc_info is None
    assert down.getMessage() == (
        "database unavailable (dialer claim): (psycopg.OperationalError) connection failed: "
        "Connection refused"
    )
    assert back.levelno == logging.INFO
    assert back.getMessage().startswith("database available again (webhook dispatch), ")


def test_attempts_begun_before_a_change_do_not_flip_the_state_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vestnik.database")
    health = DatabaseHealth()
    before_the_cut = time.monotonic()
    assert health.failed("webhook dispatch", REFUSED, time.monotonic())
    health.ok("dialer claim", before_the_cut)  # was already on its way
    assert not health.up
    during = time.monotonic()
    health.ok("dialer claim", time.monotonic())
    assert health.up
    assert health.failed("webhook claim", REFUSED, during)  # an outage error, but stale
    assert health.up
    assert len(_lines(caplog)) == 2


def test_backoff_doubles_from_the_interval_up_to_the_cap_and_resets() -> None:
    backoff = Backoff("dialer claim", 0.05, DatabaseHealth())
    delays = [backoff.failed(REFUSED, time.monotonic()) for _ in range(10)]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.4]
    assert delays[-1] == BACKOFF_CAP_SECONDS and max(delays) == BACKOFF_CAP_SECONDS
    backoff.ok(time.monotonic())
    assert backoff.failed(REFUSED, time.monotonic()) == 0.05
    # A loop that does not poll at all still waits between attempts.
    assert Backoff("x", 0.0, DatabaseHealth()).failed(REFUSED, time.monotonic()) > 0


def test_a_bug_is_logged_with_its_traceback_rate_limited_and_is_no_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = DatabaseHealth()
    backoff = Backoff("webhook claim", 0.05, health)
    for _ in range(50):
        backoff.failed(ValueError("a bug in the claim"), time.monotonic())
    assert health.up
    (logged,) = _lines(caplog)
    assert logged.levelno == logging.ERROR and logged.exc_info is not None
    assert logged.getMessage() == "webhook claim failed"
