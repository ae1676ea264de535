"""Bounded database waits on PostgreSQL: a deadline for every connection in use.

``statement_timeout`` makes the server give up on a slow statement and ``connect_timeout``
bounds a connection attempt, but a link that stops answering with the connection kept open (a
black-holed route, a frozen middlebox) leaves the client blocked in a read that nothing ends:
the server never saw the query, and TCP keepalives or ``tcp_user_timeout`` see a peer that
acknowledges every byte. So every connection checked out of the pool carries a deadline, and
one watchdog thread shuts down the socket of a connection still in use at its deadline: the
blocked call returns with an error (:class:`DatabaseTimeout`), SQLAlchemy invalidates the
connection, and the thread is free again.

The deadline is the one of the enclosing :func:`deadline` block on this thread (an API request
sets it when the request arrives, so time spent waiting for a thread counts too), else the
checkout time plus the engine's timeout. A connection kept checked out across pieces of work
(the API's inline runner) is taken out of the watch with :func:`unwatch` and each piece is
bounded with :func:`watch`. The pool's pre-ping runs after the deadline is armed,
so a stale connection on a dead link cannot hang the checkout either. A new connection is
made in a thread of its own and waited for until the deadline only: psycopg cannot give up on
an attempt sooner than 2 s (libpq's rule), so an attempt that outlives its caller is closed
when it ends (after its own connect timeout at the latest).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, event

# psycopg waits at least this long for a connection attempt (whole seconds, libpq's rule).
MIN_CONNECT_TIMEOUT = 2
# Keys in a pooled connection's ``info``.
_FIRED = "vestnik.deadline_fired"  # the watchdog shut this connection down
_FRESH = "vestnik.fresh"  # connected just now: no pre-ping needed
_SOCKET = "vestnik.socket"  # (fd, inode) of the connection, for watch()


class DatabaseTimeout(sa.exc.TimeoutError):
    """The database did not answer before the deadline (the connection was shut down)."""


_scope = threading.local()


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Database work on this thread inside the block must be done by ``at`` (a
    ``time.monotonic()`` value; ``math.inf``: no bound). Raises :class:`DatabaseTimeout` at once
    when ``at`` has already passed (e.g. the request waited that long for a thread)."""
    if time.monotonic() >= at:
        raise DatabaseTimeout("the deadline passed before the database work could start")
    previous = getattr(_scope, "at", None)
    _scope.at = at
    try:
        yield
    finally:
        _scope.at = previous


def unwatch(conn: sa.Connection) -> None:
    """``conn`` stays checked out across pieces of work: no deadline until :func:`watch`."""
    _WATCHDOG.disarm(id(conn.connection.info))


@contextmanager
def watch(conn: sa.Connection, at: float) -> Iterator[None]:
    """Bound the work on ``conn`` (see :func:`unwatch`) inside the block by ``at``; nothing
    to do on an engine without bounds (SQLite)."""
    info = conn.connection.info
    socket_id: tuple[int, int] | None = info.get(_SOCKET)
    if socket_id is None:
        yield
        return
    info.pop(_FIRED, None)
    _WATCHDOG.arm(id(info), _Armed(at, *socket_id, info))
    try:
        yield
    finally:
        _WATCHDOG.disarm(id(info))


def _deadline_for(timeout: float) -> float:
    at: float | None = getattr(_scope, "at", None)
    return time.monotonic() + timeout if at is None else at


@dataclass(eq=False)
class _Armed:
    at: float
    fd: int
    inode: int  # identifies the socket: the fd number may be reused once libpq closes it
    info: dict[Any, Any]  # the pooled connection's info: _FIRED is set there


class _Watchdog:
    """One daemon thread for the process: shuts down sockets of connections past deadline.

    Entries are keyed by the ``id`` of the pooled connection's ``info`` dict (one per pool
    record, shared by the record and the checked-out proxy; held by the entry while armed).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, _Armed] = {}
        self._next_wake = math.inf
        self._thread: threading.Thread | None = None

    def arm(self, key: int, armed: _Armed) -> None:
        with self._cond:
            self._armed[key] = armed
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="vestnik-db-watchdog", daemon=True
                )
                self._thread.start()
            if armed.at < self._next_wake:
                self._cond.notify()

    def disarm(self, key: int) -> None:
        with self._cond:
            self._armed.pop(key, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                at = time.monotonic()
                for key in [k for k, armed in self._armed.items() if armed.at <= at]:
                    armed = self._armed.pop(key)
                    armed.info[_FIRED] = True
                    _shut_down(armed.fd, armed.inode)
                self._next_wake = min((a.at for a in self._armed.values()), default=math.inf)
                wait = None if self._next_wake == math.inf else self._next_wake - at
                self._cond.wait(wait)


def _shut_down(fd: int, inode: int) -> None:
    """Shut the socket down (both ways): a read or write blocked on it returns at once."""
    try:
        dup = os.dup(fd)
    except OSError:
        return  # already closed
    try:
        if os.fstat(dup).st_ino != inode:
            return  # the number now belongs to another file
        sock = socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected any more: nothing is blocked on it
    finally:
        sock.close()  # closes our duplicate only


_WATCHDOG = _Watchdog()


def bound_postgresql(engine: Engine, timeout: float) -> None:
    """Give ``engine`` (psycopg) its bounds: connect and statement timeouts, and a deadline
    on every checkout kept by the watchdog. Replaces ``pool_pre_ping`` (the ping runs
    inside the deadline)."""
    statement_ms = max(1, round(timeout * 1000))

    @event.listens_for(engine, "do_connect")
    def _connect_bounded(dialect: Any, _rec: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        at = min(_deadline_for(timeout), time.monotonic() + timeout)
        left = at - time.monotonic()
        if left <= 0:
            raise DatabaseTimeout("the deadline passed before a connection could be made")
        cparams["connect_timeout"] = max(MIN_CONNECT_TIMEOUT, math.ceil(left))
        options = f"{cparams.get('options', '')} -c statement_timeout={statement_ms}"
        cparams["options"] = options.strip()
        return _connect_by(at, lambda: dialect.connect(*cargs, **cparams), timeout)

    @event.listens_for(engine, "connect")
    def _mark_fresh(_dbapi_conn: Any, rec: Any) -> None:
        rec.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _arm(dbapi_conn: Any, rec: Any, _proxy: Any) -> None:
        at = _deadline_for(timeout)
        try:
            fd = dbapi_conn.fileno()
            inode = os.fstat(fd).st_ino
        except Exception as exc:  # the driver closed it (the connection broke): a new one
            raise sa.exc.InvalidatePoolError(str(exc)) from exc
        rec.info.pop(_FIRED, None)
        rec.info[_SOCKET] = (fd, inode)
        _WATCHDOG.arm(id(rec.info), _Armed(at, fd, inode, rec.info))
        if rec.info.pop(_FRESH, False):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            if rec.info.get(_FIRED) or time.monotonic() >= at:
                raise DatabaseTimeout(_no_answer(timeout)) from exc
            # A stale connection (e.g. the server restarted): the pool connects anew.
            raise sa.exc.InvalidatePoolError(str(exc)) from exc

    def _disarm(_dbapi_conn: Any, rec: Any, *_args: Any) -> None:
        _WATCHDOG.disarm(id(rec.info))

    for name in ("checkin", "invalidate", "soft_invalidate", "close", "detach"):
        event.listen(engine, name, _disarm)

    @event.listens_for(engine, "handle_error")
    def _explain_timeout(context: sa.engine.ExceptionContext) -> BaseException | None:
        conn = context.connection
        if conn is None or conn.invalidated or conn.closed:
            return None
        if not conn.connection.info.get(_FIRED):
            return None
        context.is_disconnect = True
        return DatabaseTimeout(_no_answer(timeout))


def _connect_by(at: float, connect: Callable[[], Any], timeout: float) -> Any:
    """``connect()`` in a thread of its own, waited for until ``at``; a connection that
    arrives later is closed."""
    attempt: Future[Any] = Future()
    threading.Thread(
        target=_attempt, args=(attempt, connect), name="vestnik-db-connect", daemon=True
    ).start()
    try:
        return attempt.result(timeout=max(0.0, at - time.monotonic()))
    except TimeoutError:
        attempt.add_done_callback(_close_unused)
        raise DatabaseTimeout(_no_answer(timeout)) from None


def _attempt(attempt: Future[Any], connect: Callable[[], Any]) -> None:
    try:
        attempt.set_result(connect())
    except BaseException as exc:
        attempt.set_exception(exc)


def _close_unused(attempt: Future[Any]) -> None:
    if attempt.exception() is None:
        with contextlib.suppress(Exception):
            attempt.result().close()


def _no_answer(timeout: float) -> str:
    return f"the database did not answer in time ([database] timeout {timeout:g} s)"


__all__ = ["DatabaseTimeout", "bound_postgresql", "deadline", "unwatch", "watch"]
