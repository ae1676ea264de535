"""SQLite WAL checkpoints off the request path: one background thread per engine.

By default SQLite checkpoints inside the commit that pushes the WAL past 1000 pages: that
commit then copies pages and fsyncs the database file (5-25 ms here), a latency spike for
whichever request is unlucky. A connection kept for the request path hands its checkpoints
over (:func:`hand_over_checkpoints`: automatic checkpoints off on that connection) and holds
its engine's checkpointer (:func:`hold_checkpointer`): a background thread that runs a PASSIVE
checkpoint (it never waits for readers or writers) every ``interval`` seconds. However many
connections of one engine hand over (the Call API's, the Data API's), the engine has one such
thread: the first holder starts it, the last one to let go stops it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

log = logging.getLogger("vestnik.store")

CHECKPOINT_INTERVAL = 1.0
THREAD_NAME = "wal-checkpoint"


class WalCheckpointer:
    def __init__(self, engine: Engine, interval: float = CHECKPOINT_INTERVAL) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

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


@dataclass
class _Shared:
    checkpointer: WalCheckpointer
    holders: int = 0


_lock = threading.Lock()
_by_engine: dict[Engine, _Shared] = {}


def hand_over_checkpoints(conn: Connection) -> None:
    """Turn automatic checkpoints off on ``conn`` (a SQLite connection kept for the request
    path): its engine's checkpointer (:func:`hold_checkpointer`) runs them instead."""
    conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
    conn.commit()


def hold_checkpointer(engine: Engine) -> Callable[[], None]:
    """Start ``engine``'s checkpointer unless it runs; the returned function lets go of it
    (idempotent), stopping the thread when nobody holds it any more."""
    with _lock:
        shared = _by_engine.get(engine)
        if shared is None:
            shared = _by_engine[engine] = _Shared(WalCheckpointer(engine))
            shared.checkpointer.start()
        shared.holders += 1
    released = False

    def release() -> None:
        nonlocal released
        with _lock:
            if released:
                return
            released = True
            shared.holders -= 1
            if shared.holders > 0:
                return
            del _by_engine[engine]
        shared.checkpointer.stop()  # outside the lock: it may wait for a checkpoint

    return release
