"""The dialer's way to the database: its own thread with group commit (``store.batching``).

Loops use :meth:`DialerDatabase.run` and back off themselves; a call's writes use
:meth:`DialerDatabase.write` (retried while the database is unavailable, so a call that ends
during an outage is finished with its real outcome afterwards) and
:meth:`DialerDatabase.queue_write` (progress writes of one call, committed in order).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from vestnik.dialer.call import Call
from vestnik.store.batching import GroupCommit
from vestnik.store.db import Engine
from vestnik.store.health import BACKOFF_CAP_SECONDS, DATABASE

log = logging.getLogger("vestnik.dialer")

T = TypeVar("T")

# A call's writes are retried while the database is unavailable; other failures this often.
WRITE_RETRIES = 4
WRITE_RETRY_SECONDS = 0.2


class DialerDatabase:
    def __init__(self, engine: Engine) -> None:
        self._db = GroupCommit(engine)

    async def run(self, fn: Callable[..., T], *args: Any, account: int | None = None) -> T:
        """``fn(conn, *args)`` in a transaction on the database thread (group commit);
        ``account``: the account row ``fn`` locks (``GroupCommit.run``)."""
        return await self._db.run(fn, *args, account=account)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """``run``, retried with back-off for as long as the database is unavailable, and up
        to ``WRITE_RETRIES`` times for other failures (then it raises)."""
        delay = WRITE_RETRY_SECONDS
        failures = 0
        while True:
            started = time.monotonic()
            try:
                result = await self.run(fn, *args)
            except Exception as exc:
                failures += 1
                outage = DATABASE.failed("dialer call write", exc, started)
                if not outage and failures >= WRITE_RETRIES:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP_SECONDS)
                continue
            DATABASE.ok("dialer call write", started)
            return result

    def queue_write(self, call: Call, fn: Callable[..., object], *args: Any) -> None:
        """Queue a progress write for ``call``; writes of one call commit in order."""
        previous = call.writes

        async def chained() -> None:
            if previous is not None:
                await previous
            try:
                await self.write(fn, *args)
            except Exception:
                log.exception("session %d: progress write %s failed", call.id, fn.__name__)

        call.writes = asyncio.ensure_future(chained())

    async def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        await self._db.close()
