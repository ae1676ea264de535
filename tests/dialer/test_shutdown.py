"""Ctrl-C in a terminal (SIGINT to the whole process group) drains live calls.

A real ``vestnik serve`` process (the console script, its own process group, as a shell would
start it) with SIPp as the trunk. Twenty calls are up when the group gets SIGINT: the pacer
child must not die of it, the dialer stops claiming, every live call plays to the end
(``success_finish``), the API still answers during the drain, and the log has no traceback.
"""

from __future__ import annotations

import os
import signal
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

MESSAGE = "Проверка связи. Это тестовое сообщение сервиса Вестник. " * 2  # about 6 s
CALLS = 20


def _states(engine: Engine, sids: list[int]) -> list[str]:
    return [str(session(engine, s)["state"]) for s in sids]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_to_the_process_group_drains_live_calls(
    tmp_path: Path, sqlite_url: str, sig: signal.Signals
) -> None:
    engine = create_db_engine(sqlite_url)
    token = provision(engine, max_concurrent_calls=CALLS)
    http_port, sip_port = free_port(), free_port()
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        env = serve_env(
            tmp_path, sqlite_url, sipp, http_port, sip_port, VESTNIK_DIALER_SHUTDOWN_GRACE="30"
        )
        log = tmp_path / "serve.log"
        service = ServeProcess(env, log, http_port)
        try:
            service.wait_ready()
            sids = []
            for i in range(CALLS):
                body = informer_call(token, f"792600007{i:02d}", MESSAGE)
                reply = httpx.post(service.url + "/v4.0", json=body)
                sids.append(int(reply.json()["result"]["data"]["call_session_id"]))
            wait_until(lambda: _states(engine, sids).count("answered") == CALLS, 20, "all calls up")
            os.killpg(service.proc.pid, sig)
            # Draining: the API still answers, and what it accepts now is left queued.
            reply = httpx.post(service.url + "/v4.0", json=informer_call(token, "79260007999"))
            late = int(reply.json()["result"]["data"]["call_session_id"])
            assert service.proc.wait(40) == 0
        finally:
            service.cleanup()
    rows = [session(engine, s) for s in sids]
    assert [r["finish_reason"] for r in rows] == ["success_finish"] * CALLS
    assert session(engine, late)["state"] == "queued"
    assert session(engine, late)["lease_owner"] is None
    text = log.read_text()
    assert "Traceback" not in text
    assert "media stream ended unexpectedly" not in text


def test_a_second_signal_cuts_the_drain_short(tmp_path: Path, sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    token = provision(engine, max_concurrent_calls=5)
    http_port, sip_port = free_port(), free_port()
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        env = serve_env(
            tmp_path, sqlite_url, sipp, http_port, sip_port, VESTNIK_DIALER_SHUTDOWN_GRACE="60"
        )
        log = tmp_path / "serve.log"
        service = ServeProcess(env, log, http_port)
        try:
            service.wait_ready()
            sids = []
            for i in range(5):
                body = informer_call(token, f"792600008{i:02d}", MESSAGE * 5)  # about 30 s
                reply = httpx.post(service.url + "/v4.0", json=body)
                sids.append(int(reply.json()["result"]["data"]["call_session_id"]))
            wait_until(lambda: _states(engine, sids).count("answered") == 5, 20, "calls up")
            os.killpg(service.proc.pid, signal.SIGINT)
            wait_until(lambda: "stopping: no new calls" in log.read_text(), 5, "the drain")
            started = time.monotonic()
            os.killpg(service.proc.pid, signal.SIGINT)
            assert service.proc.wait(15) == 0
            assert time.monotonic() - started < 10  # not the 60 s grace, nor the 30 s message
        finally:
            service.cleanup()
    rows = [session(engine, s) for s in sids]
    assert [r["finish_reason"] for r in rows] == ["internal_error"] * 5
    assert all("hung up by dialer shutdown" in r["finish_detail"] for r in rows)
    text = log.read_text()
    assert "second stop request: cutting the drain short" in text
    assert "Traceback" not in text
