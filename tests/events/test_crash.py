"""kill -9 of a process running the delivery worker loses no event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from tests.support import webhook_worker
from tests.support.events import (
    ALL_EVENTS,
    SECRET,
    Receiver,
    delivery_states,
    make_account,
    record_call,
    running,
)
from tests.support.processes import async_wait_until
from vestnik.events.webhooks import add_webhook

WORKER = Path(webhook_worker.__file__)


def start_worker(db_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), db_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


async def test_kill_9_during_delivery_loses_nothing(engine: Engine, db_url: str) -> None:
    # Slow answers keep many requests in flight when the process is killed.
    receiver = Receiver(delay=0.05)
    async with running(receiver):
        with engine.begin() as conn:
            account = make_account(conn)
            add_webhook(conn, account, receiver.url, ALL_EVENTS, SECRET)
        ids = record_call(engine, account, 100)
        first = start_worker(db_url)
        try:
            await async_wait_until(lambda: len(receiver.requests) >= 60, 30, "60 requests")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(10)
        got_before_restart = receiver.delivered_ids()
        assert 0 < len(got_before_restart) < len(ids), "kill should land mid-delivery"
        second = start_worker(db_url)
        try:
            # Leases of the killed process expire after timeout + margin (6 s here).
            await async_wait_until(lambda: receiver.delivered_ids() == set(ids), 60, "every event")
            await async_wait_until(
                lambda: delivery_states(engine).get("delivered", 0) == len(ids), 10, "recorded"
            )
        finally:
            second.send_signal(signal.SIGKILL)
            second.wait(10)
    assert all(r.signature_ok for r in receiver.requests)
    # Order per session held across the crash too: a session's later event was never
    # accepted before its earlier one.
    order = {"call_started": 0, "call_answered": 1, "call_finished": 2}
    accepted: dict[int, int] = {}
    for r in receiver.delivered():
        rank = order[r.body["notification_mnemonic"]]
        assert accepted.get(r.body["call_session_id"], -1) >= rank - 1
        accepted[r.body["call_session_id"]] = max(accepted.get(r.body["call_session_id"], -1), rank)
    assert delivery_states(engine) == {"delivered": len(ids)}
