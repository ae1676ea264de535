"""Whether the database answers, as the process's database users see it.

Every background loop that touches the database (dialer claim, renew, release poll, sweep;
webhook dispatch, claim, record), the dialer's call writes, the API and the metrics scrape
report each attempt here, with the time it started. :data:`DATABASE` keeps one process-wide
state: *up* until an attempt fails because the database is unavailable (:func:`is_unavailable`),
*down* until an attempt that started after that succeeds. An attempt that started before the
last change says nothing about the state now (a success already on its way when the link was
cut, a failure already under way when it came back), so the state does not flap. Each change
is logged once (a warning with the error's first line, no traceback; an info line with how
long it lasted) and shown as ``vestnik_database_up`` at ``/metrics``.

A loop holds a :class:`Backoff`: ``failed(exc, started)`` reports and returns how long to wait
before the next attempt (the loop's own interval, doubling per consecutive failure up to
:data:`BACKOFF_CAP_SECONDS`); ``ok(started)`` resets it. A failure that is not an outage (a
bug) is logged with its traceback, at most once per :data:`TRACEBACK_INTERVAL_SECONDS` per
loop. Times are ``time.monotonic()``.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import sqlalchemy as sa

log = logging.getLogger("vestnik.database")

BACKOFF_CAP_SECONDS = 5.0
# The first back-off step when a loop polls faster than this (or not at all: interval 0).
MIN_BACKOFF_SECONDS = 0.05
TRACEBACK_INTERVAL_SECONDS = 60.0
# Connection refused or lost, SQLite's lock wait, a statement or pool timeout, a deadline.
_OUTAGE_ERRORS = (sa.exc.OperationalError, sa.exc.TimeoutError, sa.exc.DisconnectionError)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or did not answer in time
    (connection refused or lost, a timeout, a lock held too long), not that the work was wrong.
    """
    if isinstance(exc, sa.exc.DBAPIError):
        # Class 40 (deadlock, serialization failure): the work is to be retried, the database
        # itself answered.
        if str(getattr(exc.orig, "sqlstate", None) or "").startswith("40"):
            return False
        if exc.connection_invalidated:
            return True
    return isinstance(exc, _OUTAGE_ERRORS)


def summary(exc: BaseException) -> str:
    """The first line of the error's text (SQLAlchemy appends the statement and a link)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class DatabaseHealth:
    """Up or down, from the attempts of every user; logs each change once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._up_since = -math.inf

    @property
    def up(self) -> bool:
        return self._down_since is None

    def failed(self, who: str, exc: BaseException, started: float) -> bool:
        """Report an attempt (begun at ``started``) that failed; True if the failure was an
        outage (logged here once, when the state changes)."""
        if not is_unavailable(exc):
            return False
        with self._lock:
            if self._down_since is not None or started < self._up_since:
                return True
            self._down_since = time.monotonic()
        log.warning("database unavailable (%s): %s", who, summary(exc))
        return True

    def ok(self, who: str, started: float) -> None:
        """Report an attempt (begun at ``started``) that succeeded."""
        if self._down_since is None:  # the common case: no lock
            return
        with self._lock:
            since = self._down_since
            if since is None or started < since:
                return
            self._down_since = None
            self._up_since = time.monotonic()
        log.info("database available again (%s), %.1f s after it failed", who, _age(since))


def _age(since: float) -> float:
    return time.monotonic() - since


DATABASE = DatabaseHealth()


class Backoff:
    """One loop's view: report attempts to :data:`DATABASE`, wait longer while they fail."""

    def __init__(self, who: str, interval: float, health: DatabaseHealth = DATABASE) -> None:
        self.who = who
        self.interval = interval
        self.health = health
        self.failures = 0
        self._last_traceback = -math.inf
        self._unlogged = 0

    def failed(self, exc: BaseException, started: float) -> float:
        """Report a failed attempt; the delay before the next one."""
        self.failures += 1
        if not self.health.failed(self.who, exc, started):
            self._log_bug(exc)
        first = max(self.interval, MIN_BACKOFF_SECONDS)
        doubling: int = 2 ** min(self.failures - 1, 30)  # failures >= 1: a whole number
        return min(BACKOFF_CAP_SECONDS, first * doubling)

    def ok(self, started: float) -> None:
        self.failures = 0
        self.health.ok(self.who, started)

    def _log_bug(self, exc: BaseException) -> None:
        at = time.monotonic()
        if at - self._last_traceback < TRACEBACK_INTERVAL_SECONDS:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more since the last traceback)" if self._unlogged else ""
        log.error("%s failed%s", self.who, more, exc_info=exc)
        self._last_traceback = at
        self._unlogged = 0


__all__ = ["DATABASE", "Backoff", "DatabaseHealth", "is_unavailable", "summary"]
