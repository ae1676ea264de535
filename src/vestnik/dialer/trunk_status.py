"""``TrunkStatusRecorder``: what this dialer process knows of each trunk, stored for
``vestnik admin trunk list`` (``store.trunks.record_status``).

The telephony's trunk listener hands it each change on the event loop (``record``, which never
blocks); a task writes the newest status of each changed trunk in a worker thread
(``vestnik.threads.run_in_thread``), in order, retrying while the database does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from vestnik.store import trunks as store
from vestnik.store.db import Engine, now, transaction
from vestnik.threads import run_in_thread

log = logging.getLogger("vestnik.dialer.trunks")

RETRY_SECONDS = 0.2
RETRY_CAP_SECONDS = 5.0
# At stop, wait at most this long for the last statuses to be written.
STOP_SECONDS = 5.0


class TrunkStatusRecorder:
    """Stores ``TrunkRow``s as ``dialer``'s view. ``start(rows)``, ``record(row)``, ``stop()``."""

    def __init__(self, engine: Engine, dialer: str) -> None:
        self.engine = engine
        self.dialer = dialer
        self._pending: dict[str, store.TrunkRow] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self, rows: Iterable[store.TrunkRow]) -> None:
        """Write ``rows`` (every trunk as it is now) and then each change."""
        for row in rows:
            self.record(row)
        self._task = asyncio.create_task(self._write_loop(), name="trunk-status")

    def record(self, row: store.TrunkRow) -> None:
        """A trunk's status changed (on the event loop; returns at once)."""
        self._pending[row.trunk] = row
        self._wake.set()

    async def stop(self) -> None:
        """Write what is pending (bounded by ``STOP_SECONDS``), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), STOP_SECONDS)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _write_loop(self) -> None:
        delay = RETRY_SECONDS
        while True:
            await self._wake.wait()
            self._wake.clear()
            rows, self._pending = self._pending, {}
            if rows:
                try:
                    await run_in_thread(self._write, list(rows.values()))
                except Exception as exc:
                    log.warning("trunk status not stored (retrying): %s", exc)
                    self._pending = {**rows, **self._pending}
                    self._wake.set()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_CAP_SECONDS)
                    continue
                delay = RETRY_SECONDS
            if self._stopping and not self._pending:
                return

    def _write(self, rows: list[store.TrunkRow]) -> None:
        with transaction(self.engine) as conn:
            store.record_status(conn, self.dialer, rows, now())
