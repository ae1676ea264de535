"""Group commit: the dialer's database thread, many operations per transaction.

Every dialer write is small (one guarded UPDATE, maybe an event row), and at 100 calls per
second there are several hundred of them a second. Run one transaction each and the cost is
mostly transaction overhead and thread hand-offs; on SQLite they also queue for the single
writer lock. ``GroupCommit`` runs queued operations on one worker thread, all those waiting at
that moment in one transaction: alone, an operation commits at once (no added latency); under
load, operations coalesce into batches by themselves.

An operation is ``fn(conn, *args)``, as the ``store.sessions`` functions are; operations in a
batch run in submission order, so later ones see earlier ones' changes (e.g. two sessions of one
account both checking its concurrent-call cap). An operation that locks an account row
(``begin_dialing``) names the account (``run(..., account=id)``); a batch locks all its accounts'
rows first, in id order (``store.sessions.lock_accounts``), so two dialers' batches never wait
for each other's account rows in a cycle (PostgreSQL would break the deadlock by failing one
batch). If a batch fails as a whole (a bad operation), its operations are retried each in its
own transaction, so one failure reaches only its own caller. When the database is unavailable
(``store.health.is_unavailable``) that would only multiply the wait (each transaction waits up
to ``[database] timeout``): every operation of the batch, or of the rest of the retry, gets the
error at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine

from vestnik.store.health import is_unavailable
from vestnik.store.sessions import lock_accounts

log = logging.getLogger("vestnik.dialer")

T = TypeVar("T")

MAX_BATCH = 200


@dataclass
class _Op:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    account: int | None = None  # the account row the operation locks, if any


class GroupCommit:
    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[_Op] = []
        self._drainer: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="vestnik-dialer-db")
        self.batches = 0  # transactions run (for tests and metrics)
        self.operations = 0

    async def run(self, fn: Callable[..., T], *args: Any, account: int | None = None) -> T:
        """``fn(conn, *args)`` in a transaction (shared with other waiting operations);
        ``account``: the account row ``fn`` locks (locked with the batch's others first)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Op(fn, args, future, account))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="dialer-db")
        return await future

    async def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        self._thread.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                results = await loop.run_in_executor(self._thread, self._run_batch, batch)
            except Exception as exc:
                if is_unavailable(exc):
                    results = [(False, exc)] * len(batch)
                else:
                    if len(batch) > 1:
                        log.warning("a batch of %d operations failed; retrying each", len(batch))
                    results = await loop.run_in_executor(self._thread, self._run_each, batch)
            for op, (ok, value) in zip(batch, results, strict=True):
                if op.future.done():  # the caller went away (cancelled)
                    continue
                if ok:
                    op.future.set_result(value)
                else:
                    op.future.set_exception(value)

    def _run_batch(self, batch: list[_Op]) -> list[tuple[bool, Any]]:
        with self.engine.begin() as conn:
            lock_accounts(conn, (op.account for op in batch if op.account is not None))
            results = [(True, op.fn(conn, *op.args)) for op in batch]
        self.batches += 1
        self.operations += len(batch)
        return results

    def _run_each(self, batch: list[_Op]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        for op in batch:
            try:
                with self.engine.begin() as conn:
                    results.append((True, op.fn(conn, *op.args)))
                self.batches += 1
                self.operations += 1
            except Exception as exc:
                if is_unavailable(exc):  # the others would wait for it in turn
                    return results + [(False, exc)] * (len(batch) - len(results))
                results.append((False, exc))
        return results
