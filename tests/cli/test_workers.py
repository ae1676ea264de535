"""``vestnik serve --workers``: real supervisor and worker processes on one PostgreSQL database,
SIPp as the trunk (it counts the INVITEs each contact got).

- two workers answer on one HTTP port and both dial; every session is dialled exactly once;
  Ctrl-C (SIGINT to the whole process group, as a terminal sends it) drains once, exits 0;
- refused on SQLite, with the reason, exit status 2;
- a worker that cannot start (its SIP port taken) makes ``serve`` exit 1, not restart for ever;
- kill -9 of one worker: the supervisor restarts it, its interrupted calls are settled at once
  by its restart (same dialer id), every session ends final with a reason, nobody is dialled
  twice; SIGTERM to the supervisor mid-call drains the calls and exits 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from tests.support.db import pg_database_url, truncate_pg
from tests.support.processes import free_port, wait_until
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas
from vestnik.store import create_db_engine

pytestmark = [pytest.mark.sip, pytest.mark.postgres]

MESSAGE = "Проверка связи. Это тестовое сообщение сервиса Вестник."  # about 3 s
LONG_MESSAGE = MESSAGE + " " + MESSAGE  # about 6 s
# Two calls per worker at once, none waiting: a batch of requests needs both workers.
PER_WORKER = {
    "VESTNIK_DIALER_MAX_CONCURRENT_CALLS": "2",
    "VESTNIK_DIALER_MAX_WAITING_SESSIONS": "0",
}


@pytest.fixture
def pg_url() -> str:
    url = pg_database_url()
    truncate_pg(url)
    return url


def _start(env: dict[str, str], log: Path, http_port: int, workers: int = 2) -> ServeProcess:
    proc = ServeProcess(env, log, http_port, args=["--workers", str(workers)])
    proc.wait_ready()
    wait_until(lambda: len(proc.worker_pids()) == workers, 60, "every worker to serve")
    return proc


def _post(url: str, token: str, contact: str, text: str) -> int:
    reply = httpx.post(url + "/v4.0", json=informer_call(token, contact, text), timeout=10)
    return int(reply.json()["result"]["data"]["call_session_id"])


def _states(engine: Engine, sids: list[int]) -> list[str]:
    return [str(session(engine, s)["state"]) for s in sids]


def test_two_workers_share_the_port_and_both_dial(tmp_path: Path, pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    token = provision(engine)
    http_port, sip_port = free_port(), free_port()
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        env = serve_env(tmp_path, pg_url, sipp, http_port, sip_port, **PER_WORKER)
        proc = _start(env, tmp_path / "serve.log", http_port)
        try:
            contacts = [f"7926000080{i}" for i in range(8)]
            sids = [_post(proc.url, token, c, MESSAGE) for c in contacts]
            wait_until(lambda: set(_states(engine, sids)) == {"finished"}, 60, "all finished")
            # One more call, in progress at the Ctrl-C: it must play to its end.
            last = _post(proc.url, token, "79260000810", MESSAGE)
            wait_until(lambda: _states(engine, [last]) == ["answered"], 15, "answer")
            os.killpg(proc.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            assert proc.proc.wait(30) == 0
        finally:
            proc.cleanup()
        log = proc.log.read_text()
        rows = [session(engine, s) for s in sids]
        assert [r["finish_reason"] for r in rows] == ["success_finish"] * len(rows), rows
        dialers = {str(r["lease_owner"]).split("/")[0] for r in rows}
        hostname = socket.gethostname()
        assert dialers == {f"{hostname}:{sip_port}", f"{hostname}:{sip_port + 1}"}
        assert sipp.calls_by_contact() == dict.fromkeys([*contacts, "79260000810"], 1)
        row = session(engine, last)
        assert row["finish_reason"] == "success_finish", row  # drained, not cut
        assert row["end_at"] - row["answer_at"] > 2
        assert log.count("stopping: SIGTERM to 2 workers") == 1
        assert "second stop request" not in log
        assert "Traceback" not in log and "KeyboardInterrupt" not in log
    engine.dispose()


def test_refused_on_sqlite(tmp_path: Path) -> None:
    env = dict(os.environ, VESTNIK_DATA_DIR=str(tmp_path / "data"), VESTNIK_DATABASE_URL="")
    done = subprocess.run(
        [sys.executable, "-m", "vestnik.cli.main", "serve", "--workers", "2"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "vestnik: error: serve --workers 2: 2 workers need PostgreSQL" in done.stderr
    assert "[database] url" in done.stderr
    assert not (tmp_path / "data" / "vestnik.db").exists()  # nothing started
    # The same from the setting, and --workers with no number on a machine of 2+ cores.
    setting = dict(env, VESTNIK_SERVER_WORKERS="3")
    done = subprocess.run(
        [sys.executable, "-m", "vestnik.cli.main", "serve"],
        env=setting, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "3 workers need PostgreSQL" in done.stderr, done.stderr
    if (os.cpu_count() or 1) > 1:
        done = subprocess.run(
            [sys.executable, "-m", "vestnik.cli.main", "serve", "--workers"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2 and "need PostgreSQL" in done.stderr, done.stderr


def test_a_worker_that_cannot_start_stops_serve(tmp_path: Path, pg_url: str) -> None:
    sip_port = free_port()
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", sip_port + 1))  # worker 1's SIP port
    http_port = free_port()
    try:
        with SippUas.trunk(tmp_path / "sipp") as sipp:
            env = serve_env(tmp_path, pg_url, sipp, http_port, sip_port)
            proc = ServeProcess(env, tmp_path / "serve.log", http_port, args=["--workers", "2"])
            try:
                assert proc.proc.wait(90) == 1
            finally:
                proc.cleanup()
    finally:
        taken.close()
    log = proc.log.read_text()
    assert "worker 1" in log and "could not start" in log, log[-3000:]
    assert "restarted" not in log


def test_kill9_of_a_worker_is_restarted_and_settled(tmp_path: Path, pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    token = provision(engine)
    http_port, sip_port = free_port(), free_port()
    victim_id = f"{socket.gethostname()}:{sip_port}"  # worker 0's dialer id
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        env = serve_env(tmp_path, pg_url, sipp, http_port, sip_port, **PER_WORKER)
        proc = _start(env, tmp_path / "serve.log", http_port)
        try:
            contacts = [f"7926000082{i}" for i in range(6)]
            sids = [_post(proc.url, token, c, LONG_MESSAGE) for c in contacts]

            def victims() -> list[int]:
                return [
                    s
                    for s in sids
                    if str(session(engine, s)["lease_owner"]).startswith(victim_id + "/")
                    and session(engine, s)["state"] == "answered"
                ]

            wait_until(lambda: len(victims()) == 2, 30, "worker 0 to have two calls up")
            interrupted = victims()
            old_pid = proc.worker_pids()[0]
            os.kill(old_pid, signal.SIGKILL)
            killed = time.monotonic()
            wait_until(lambda: proc.worker_pids()[0] != old_pid, 60, "worker 0 restarted")
            restarted = time.monotonic()
            wait_until(
                lambda: set(_states(engine, interrupted)) == {"finished"},
                10,
                "the restarted worker to settle its previous run's calls",
            )
            settled = time.monotonic()
            wait_until(lambda: set(_states(engine, sids)) == {"finished"}, 60, "all finished")
            # SIGTERM to the supervisor with a call up: drained to its end, exit 0.
            last = _post(proc.url, token, "79260000830", MESSAGE)
            wait_until(lambda: _states(engine, [last]) == ["answered"], 15, "answer")
            assert proc.terminate() == 0
        finally:
            proc.cleanup()
        log = proc.log.read_text()
        print(
            f"kill -9 of worker 0: serving again after {restarted - killed:.1f} s, its "
            f"interrupted calls settled {settled - killed:.1f} s after the kill"
        )
        rows = {s: session(engine, s) for s in sids}
        assert all(r["state"] == "finished" and r["finish_reason"] for r in rows.values())
        for sid in interrupted:
            assert rows[sid]["finish_reason"] == "internal_error", rows[sid]
            assert "previous run" in rows[sid]["finish_detail"]
        others = [s for s in sids if s not in interrupted]
        assert all(rows[s]["finish_reason"] == "success_finish" for s in others), rows
        assert sipp.calls_by_contact() == dict.fromkeys([*contacts, "79260000830"], 1)
        assert session(engine, last)["finish_reason"] == "success_finish"
        assert f"worker 0 (pid {old_pid}) died (killed by SIGKILL); restarting it in 1 s" in log
        assert "Traceback" not in log
    engine.dispose()


def test_a_second_ctrl_c_cuts_the_drains_short(tmp_path: Path, pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    token = provision(engine)
    http_port, sip_port = free_port(), free_port()
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        env = serve_env(
            tmp_path, pg_url, sipp, http_port, sip_port, VESTNIK_DIALER_SHUTDOWN_GRACE="60",
            **PER_WORKER,
        )  # fmt: skip
        proc = _start(env, tmp_path / "serve.log", http_port)
        try:
            contacts = [f"7926000084{i}" for i in range(4)]
            sids = [_post(proc.url, token, c, MESSAGE * 10) for c in contacts]  # about 30 s
            wait_until(lambda: _states(engine, sids).count("answered") == 4, 30, "calls up")
            os.killpg(proc.proc.pid, signal.SIGINT)
            wait_until(lambda: "stopping: SIGTERM" in proc.log.read_text(), 5, "the drain")
            started = time.monotonic()
            os.killpg(proc.proc.pid, signal.SIGINT)
            assert proc.proc.wait(20) == 0
            assert time.monotonic() - started < 15  # not the 60 s grace, nor the 30 s message
        finally:
            proc.cleanup()
        log = proc.log.read_text()
        rows = [session(engine, s) for s in sids]
        assert [r["finish_reason"] for r in rows] == ["internal_error"] * 4, rows
        assert all("hung up by dialer shutdown" in r["finish_detail"] for r in rows)
        assert len({str(r["lease_owner"]).split("/")[0] for r in rows}) == 2
        assert log.count("second stop request: cutting the drain short") == 2  # each worker
        assert "second stop request: the workers cut their drain short" in log
        assert "Traceback" not in log
    engine.dispose()


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path, pg_url: str) -> None:
    """kill -9 of the supervisor alone: the kernel sends each worker SIGTERM; they stop
    cleanly and free the port instead of lingering as orphans."""
    http_port = free_port()
    env = dict(
        os.environ,
        VESTNIK_DATABASE_URL=pg_url,
        VESTNIK_DATA_DIR=str(tmp_path / "data"),
        VESTNIK_SERVER_PORT=str(http_port),
        VESTNIK_DIALER_ENABLED="false",
    )
    proc = _start(env, tmp_path / "serve.log", http_port)
    try:
        workers = list(proc.worker_pids().values())
        os.kill(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(10)

        def gone(pid: int) -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_until(lambda: all(gone(pid) for pid in workers), 30, "the workers to exit")
    finally:
        proc.cleanup()
    assert proc.log.read_text().count("vestnik stopped") == 2  # each drained and stopped
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", http_port))  # the port is free again


def test_any_worker_answers_metrics_for_all(tmp_path: Path, pg_url: str) -> None:
    """A scrape reaches one worker, and shows every worker's numbers, labelled ``worker``."""
    http_port = free_port()
    env = dict(
        os.environ,
        VESTNIK_DATABASE_URL=pg_url,
        VESTNIK_DATA_DIR=str(tmp_path / "data"),
        VESTNIK_SERVER_PORT=str(http_port),
        VESTNIK_DIALER_ENABLED="false",
    )
    proc = _start(env, tmp_path / "serve.log", http_port)
    snapshots = Path(tempfile.gettempdir()).glob(f"vestnik-metrics-{proc.proc.pid}-*")
    try:
        bad = {"jsonrpc": "2.0", "id": 1, "method": "no.such.method", "params": {}}
        for _ in range(20):  # a connection each: the kernel hands them to either worker
            httpx.post(proc.url + "/v4.0", json=bad, timeout=10)
        time.sleep(1.5)  # each worker's snapshot is at most a second old
        for _ in range(6):
            samples = [
                sample
                for family in text_string_to_metric_families(httpx.get(proc.url + "/metrics").text)
                for sample in family.samples
            ]
            requests = [
                s for s in samples if s.name == "vestnik_api_requests_total"
                and s.labels["mnemonic"] == "method_not_found"
            ]  # fmt: skip
            assert sum(s.value for s in requests) == 20, requests
            lag = "vestnik_webhook_delivery_lag_seconds_count"  # every worker has it, at 0
            assert {s.labels.get("worker") for s in samples if s.name == lag} == {"0", "1"}
            sessions = [s for s in samples if s.name == "vestnik_call_sessions"]
            assert all("worker" not in s.labels for s in sessions)  # the database's: once
        folders = list(snapshots)
        assert len(folders) == 1
        assert proc.terminate() == 0
    finally:
        proc.cleanup()
    assert not folders[0].exists()  # one folder per run, removed at exit


def test_a_killed_supervisors_metrics_folder_is_removed_by_the_next() -> None:
    from vestnik.cli.workers import METRICS_DIR_PREFIX, remove_orphaned_metrics_dirs

    ended = subprocess.Popen(["true"])
    ended.wait()
    temp = Path(tempfile.gettempdir())
    orphan = Path(tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{ended.pid}-", dir=temp))
    live = Path(tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-", dir=temp))
    try:
        (orphan / "worker-0.prom").write_text("")
        remove_orphaned_metrics_dirs()
        assert not orphan.exists()
        assert live.exists()  # its supervisor (here: this process) still runs
    finally:
        live.rmdir()
