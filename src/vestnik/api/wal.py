"""SQLite WAL checkpoints off the request path.

By default SQLite checkpoints inside the commit that pushes the WAL past 1000 pages: that
commit then copies pages and fsyncs the database file (5-25 ms here), a latency spike for
whichever request is unlucky. The API's own connection turns automatic checkpoints off and a
background thread runs a PASSIVE checkpoint (it never waits for readers or writers) every
``interval`` seconds instead.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger("vestnik.api")


class WalCheckpointer:
    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        conn = self.engine.raw_connection()
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
                except Exception:
                    log.exception("WAL checkpoint failed")
        finally:
            conn.close()
