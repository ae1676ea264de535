"""Attempts and crashes: a real ``vestnik serve`` killed with SIGKILL, then restarted.

- A session waiting for its next attempt survives the kill; its time passes while the service
  is down, and after the restart it is dialled once (honoured once, not once per missed time).
- A session killed mid-attempt is never dialled again, even with a retry that names
  ``internal_error``: nobody can know whether that attempt reached the callee.

SIPp is the trunk; its INVITE count per contact is the measure. SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.processes import free_port, wait_until
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import events, provision, queue_with_options, session
from tests.support.sipp import SippUas, requires_sipp
from vestnik.calls import FinishReason
from vestnik.calls.options import CallOptions, RetryPolicy
from vestnik.store import create_db_engine
from vestnik.store.schema import accounts

pytestmark = [requires_sipp, pytest.mark.sip]

INTERVAL = 10


def _queue(engine: Engine, contact: str, options: CallOptions, **fields: object) -> int:
    with engine.begin() as conn:
        account_id = int(conn.execute(sa.select(accounts.c.id)).scalar_one())
        return queue_with_options(conn, account_id, options, contact=contact, **fields)


def test_a_waiting_session_survives_kill9_and_is_dialled_once(tmp_path: Path, db_url: str) -> None:
    engine = create_db_engine(db_url)
    provision(engine)
    template = {"CODE": 486, "REASON": "Busy Here"}
    busy = SippUas.launch(
        "uas_reject.xml", tmp_path / "sipp", calls=None, timeout=None, template=template
    )
    http_port, sip_port = free_port(), free_port()
    env = serve_env(tmp_path, db_url, busy, http_port, sip_port)
    log = tmp_path / "serve.log"
    try:
        retry = CallOptions(retry=RetryPolicy(2, INTERVAL, (FinishReason.SUBSCRIBER_BUSY,)))
        sid = _queue(engine, "79260001101", retry)
        first = ServeProcess(env, log, http_port)
        try:
            first.wait_ready()
            wait_until(lambda: "attempt_failed" in events(engine, sid), 15, "attempt 1 to fail")
            first.kill9()
        finally:
            first.cleanup()
        waiting = session(engine, sid)
        assert (waiting["state"], waiting["lease_owner"]) == ("queued", None)
        # Down until the next attempt's time has passed.
        time.sleep(max(0.0, waiting["scheduled_at"] - time.time()) + 2)
        second = ServeProcess(env, log, http_port)
        try:
            second.wait_ready()
            restarted = time.time()
            wait_until(lambda: session(engine, sid)["state"] == "finished", 15, "attempt 2")
            assert second.terminate() == 0
        finally:
            second.cleanup()
        row = session(engine, sid)
        invites = busy.invite_times()
    finally:
        busy.stop()
        engine.dispose()
    assert (row["finish_reason"], row["attempt_count"]) == ("subscriber_busy", 2), row
    assert row["attempt_log"][1]["dial_at"] - restarted < 3  # due: dialled at once
    assert len(invites["79260001101"]) == 2, invites
    assert events(engine, sid) == [
        "call_started", "attempt_failed", "call_started", "call_finished",
    ]  # fmt: skip


def test_an_attempt_cut_by_kill9_is_never_placed_again(tmp_path: Path, db_url: str) -> None:
    engine = create_db_engine(db_url)
    provision(engine)
    ringing = SippUas.launch("uas_ring.xml", tmp_path / "sipp", calls=None, timeout=None)
    http_port, sip_port = free_port(), free_port()
    env = serve_env(tmp_path, db_url, ringing, http_port, sip_port)
    log = tmp_path / "serve.log"
    everything = tuple(FinishReason(r) for r in ("internal_error", "timeout", "subscriber_busy"))
    try:
        retry = CallOptions(retry=RetryPolicy(3, INTERVAL, everything))
        sid = _queue(engine, "79260001102", retry, dialing_timeout=60.0)
        first = ServeProcess(env, log, http_port)
        try:
            first.wait_ready()
            wait_until(lambda: session(engine, sid)["state"] == "ringing", 15, "ringing")
            first.kill9()
        finally:
            first.cleanup()
        second = ServeProcess(env, log, http_port)
        try:
            second.wait_ready()
            wait_until(lambda: session(engine, sid)["state"] == "finished", 10, "settled")
            time.sleep(INTERVAL + 2)  # a retry would have been placed by now
            assert second.terminate() == 0
        finally:
            second.cleanup()
        row = session(engine, sid)
        invites = ringing.calls_by_contact()
    finally:
        ringing.stop()
        engine.dispose()
    assert (row["finish_reason"], row["attempt_count"]) == ("internal_error", 1), row
    assert "previous run" in row["finish_detail"]
    assert invites == {"79260001102": 1}
    assert events(engine, sid) == ["call_started", "call_finished"]
