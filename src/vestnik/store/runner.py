"""Where a request's database work runs: inline on the event loop or in a worker thread.

The API's endpoints hand their transactions to a :class:`DbRunner`. Each request gets a
deadline when it arrives (:meth:`DbRunner.start_request`): its database work must be done
within ``[database] timeout`` of that moment (:mod:`vestnik.store.deadline`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from sqlalchemy import Connection, Engine

from vestnik.store.checkpoint import hand_over_checkpoints, hold_checkpointer
from vestnik.store.deadline import deadline, unwatch, watch
from vestnik.threads import run_in_thread

T = TypeVar("T")

# When the current request's database work must be done (time.monotonic()), set on arrival.
_request_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


class DbRunner:
    """Runs blocking database work: inline on the event loop (SQLite: a few hundred µs, one
    writer anyway) or in a worker thread (PostgreSQL: real concurrency, network round trips).

    Inline, the runner keeps one connection for its transactions: work runs to the end without
    yielding to the loop, so transactions never interleave, and a pool checkout per request
    (~100 µs) is saved. On SQLite that connection leaves WAL checkpoints to the engine's
    background checkpointer (:mod:`vestnik.store.checkpoint`).

    In a thread, the work runs under the request's deadline (``timeout`` after its arrival):
    time spent queueing for a thread counts against it, so every request is answered within
    about ``timeout`` however many are stuck on a database that stopped answering. Inline, each
    transaction on the kept connection is bounded by ``timeout`` (on SQLite: the busy timeout).
    """

    def __init__(self, engine: Engine, *, in_thread: bool, timeout: float) -> None:
        self.engine = engine
        self.in_thread = in_thread
        self.timeout = timeout
        self._conn: Connection | None = None
        self._release_checkpointer: Callable[[], None] | None = None

    def start_request(self) -> float:
        """The request being handled in this task arrived now (returned): its deadline
        starts."""
        arrived = time.monotonic()
        _request_deadline.set(arrived + self.timeout)
        return arrived

    def deadline(self) -> float:
        """When the current request's database work must be done (``time.monotonic()``)."""
        return _request_deadline.get() or time.monotonic() + self.timeout

    async def run(self, fn: Callable[[], T]) -> T:
        if self.in_thread:
            at = _request_deadline.get() or time.monotonic() + self.timeout
            return await run_in_thread(_run_by, at, fn)
        return fn()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside a transaction: committed on exit, rolled back on an exception."""
        if self.in_thread:
            with self.engine.begin() as own:
                yield own
            return
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self._connect()
        with watch(conn, time.monotonic() + self.timeout), conn.begin():
            yield conn

    def _connect(self) -> Connection:
        conn = self.engine.connect()
        unwatch(conn)  # kept for every request: each transaction is watched instead
        if self.engine.dialect.name == "sqlite":
            hand_over_checkpoints(conn)
            if self._release_checkpointer is None:
                self._release_checkpointer = hold_checkpointer(self.engine)
        return conn

    def close(self) -> None:
        if self._release_checkpointer is not None:
            self._release_checkpointer()
            self._release_checkpointer = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _run_by(at: float, fn: Callable[[], T]) -> T:
    with deadline(at):
        return fn()
