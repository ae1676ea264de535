"""A real ``vestnik serve`` process: kill -9 mid-call and restart; SIGTERM mid-call.

kill -9, then restart: nothing stays unfinished, nothing is redialled.

A real ``vestnik serve`` process (the console script) with SIPp as the trunk. The account may
have two calls at once, four are requested: at the kill two are answered and two are claimed
and waiting. The restarted process (same SIP port, so the same dialer id) must finish the two
interrupted calls at once (not after the 30 s lease) and dial the two waiting ones, each
contact exactly once as SIPp counts INVITEs.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.processes import free_port, wait_until
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas
from vestnik.store import create_db_engine

pytestmark = pytest.mark.sip

# About 6.6 s spoken by espeak-ng, 9.7 s by festival (the default Russian engine).
MESSAGE = "Проверка связи. Это тестовое сообщение сервиса Вестник. " * 2


def _state(engine: Engine, sid: int) -> str:
    return str(session(engine, sid)["state"])


def test_kill9_mid_call_then_restart(tmp_path: Path, sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    token = provision(engine, max_concurrent_calls=2)
    http_port, sip_port = free_port(), free_port()
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        env = serve_env(tmp_path, sqlite_url, sipp, http_port, sip_port)
        log = tmp_path / "serve.log"
        first = ServeProcess(env, log, http_port)
        try:
            first.wait_ready()
            contacts = [f"7926000060{i}" for i in range(4)]
            sids = []
            for contact in contacts:
                reply = httpx.post(first.url + "/v4.0", json=informer_call(token, contact, MESSAGE))
                sids.append(int(reply.json()["result"]["data"]["call_session_id"]))
            wait_until(
                lambda: sum(_state(engine, s) == "answered" for s in sids) == 2, 15, "2 answered"
            )
            waiting = [s for s in sids if _state(engine, s) == "queued"]
            assert len(waiting) == 2
            assert all(session(engine, s)["lease_owner"] for s in waiting)  # claimed, waiting
            first.kill9()
        finally:
            first.cleanup()
        interrupted = [s for s in sids if s not in waiting]
        assert all(_state(engine, s) == "answered" for s in interrupted)  # left mid-call

        second = ServeProcess(env, log, http_port)
        try:
            second.wait_ready()
            started = time.monotonic()
            wait_until(
                lambda: all(_state(engine, s) == "finished" for s in interrupted),
                5,
                "the interrupted calls to be settled by the restart",
            )
            assert time.monotonic() - started < 5  # not the 30 s lease
            wait_until(lambda: all(_state(engine, s) == "finished" for s in sids), 30, "all")
            assert second.terminate() == 0  # SIGTERM: graceful stop, clean exit
        finally:
            second.cleanup()
        rows = {s: session(engine, s) for s in sids}
        for sid in interrupted:
            assert rows[sid]["finish_reason"] == "internal_error"
            assert "previous run" in rows[sid]["finish_detail"]
        for sid in waiting:
            assert rows[sid]["finish_reason"] == "success_finish", rows[sid]
        assert all(row["dial_attempts"] == 1 for row in rows.values())
        assert sipp.calls_by_contact() == dict.fromkeys(contacts, 1)
    engine.dispose()


def test_sigterm_drains_calls_in_progress(tmp_path: Path, sqlite_url: str) -> None:
    """SIGTERM mid-call: the call plays to its end, then the process exits 0."""
    engine = create_db_engine(sqlite_url)
    token = provision(engine)
    http_port = free_port()
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        env = serve_env(tmp_path, sqlite_url, sipp, http_port, free_port())
        env["VESTNIK_DIALER_SHUTDOWN_GRACE"] = "30"  # the message (festival) takes ~10 s
        proc = ServeProcess(env, tmp_path / "serve.log", http_port)
        try:
            proc.wait_ready()
            body = informer_call(token, "79260000651", MESSAGE)
            sid = int(
                httpx.post(proc.url + "/v4.0", json=body).json()["result"]["data"][
                    "call_session_id"
                ]
            )
            wait_until(lambda: _state(engine, sid) == "answered", 15, "answer")
            assert proc.terminate() == 0
        finally:
            proc.cleanup()
        row = session(engine, sid)
        assert row["finish_reason"] == "success_finish", row
        assert row["end_at"] - row["answer_at"] > 3  # the whole message, not cut
        assert sipp.calls_by_contact() == {"79260000651": 1}
    engine.dispose()
