"""One WAL checkpointer per engine, however many request-path connections hand theirs over."""

from __future__ import annotations

import threading

from vestnik.store import create_db_engine
from vestnik.store.checkpoint import THREAD_NAME, hold_checkpointer
from vestnik.store.runner import DbRunner


def _checkpointers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == THREAD_NAME}


def test_one_thread_per_engine_until_the_last_holder_lets_go(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    other = create_db_engine(sqlite_url)
    before = _checkpointers()
    first, second = hold_checkpointer(engine), hold_checkpointer(engine)
    assert len(_checkpointers() - before) == 1
    third = hold_checkpointer(other)  # another engine has its own
    assert len(_checkpointers() - before) == 2
    first()
    first()  # letting go twice counts once
    assert len(_checkpointers() - before) == 2
    second()
    third()
    assert _checkpointers() == before
    engine.dispose()
    other.dispose()


def test_inline_runners_share_the_checkpointer_and_checkpoint_by_hand(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    before = _checkpointers()
    runners = [DbRunner(engine, in_thread=False, timeout=5.0) for _ in range(2)]
    for runner in runners:
        with runner.transaction() as conn:
            autocheckpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            assert autocheckpoint == 0
    started = _checkpointers() - before
    assert len(started) == 1
    for runner in runners:
        runner.close()
    assert not [t for t in started if t.is_alive()]
    engine.dispose()
