"""kill -9 of the service mid-call, then restart: nothing stays unfinished, nothing is redialled.

A real ``vestnik serve`` process (the console script) with SIPp as the trunk. The account may
have two calls at once, four are requested: at the kill two are answered and two are claimed
and waiting. The restarted process (same SIP port, so the same dialer id) must finish the two
interrupted calls at once (not after the 30 s lease) and dial the two waiting ones, each
contact exactly once as SIPp counts INVITEs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from tests.dialer.sessions import informer_call, provision, session
from tests.dialer.sipp_uas import SippUas
from tests.support.peers import free_port, free_port_range, wait_until

from vestnik.store import create_db_engine

pytestmark = pytest.mark.sip
pytest.importorskip("vestnik.telephony.sip_telephony", reason="SIP telephony adapter not built")

MESSAGE = "Проверка связи. Это тестовое сообщение сервиса Вестник. " * 2  # about 6 s


class ServeProcess:
    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        vestnik = shutil.which("vestnik", path=str(Path(sys.executable).parent))
        argv = (
            [vestnik, "serve"] if vestnik else [sys.executable, "-m", "vestnik.cli.main", "serve"]
        )
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vestnik serve exited: {self.log.read_text()[-3000:]}")
            try:
                return httpx.get(self.url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "vestnik serve to answer /health", interval=0.1)

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _state(engine: Engine, sid: int) -> str:
    return str(session(engine, sid)["state"])


def test_kill9_mid_call_then_restart(tmp_path: Path, sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    token = provision(engine, max_concurrent_calls=2)
    http_port, sip_port = free_port(), free_port()
    rtp_min, rtp_max = free_port_range(40)
    with SippUas(tmp_path / "sipp") as sipp:
        env = dict(
            os.environ,
            VESTNIK_DATABASE_URL=sqlite_url,
            VESTNIK_DATA_DIR=str(tmp_path / "data"),
            VESTNIK_LOG_LEVEL="info",
            VESTNIK_SERVER_PORT=str(http_port),
            VESTNIK_SIP_PORT=str(sip_port),
            VESTNIK_RTP_PORT_MIN=str(rtp_min),
            VESTNIK_RTP_PORT_MAX=str(rtp_max),
            VESTNIK_TRUNK_HOST="127.0.0.1",
            VESTNIK_TRUNK_PORT=str(sipp.port),
            VESTNIK_TRUNK_CALLS_PER_SECOND="0",
            VESTNIK_DIALER_DRAIN_TIMEOUT_SECONDS="10",
        )
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
