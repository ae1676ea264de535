"""The composition root: the whole service in one loop, over real HTTP and a real database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.dialer import NeverDialTelephony
from tests.support.processes import async_wait_until
from tests.support.sessions import informer_call, provision, session
from tests.support.tcp_proxy import TcpProxy
from vestnik.config import Config
from vestnik.service import Service, ServiceError
from vestnik.store import create_db_engine, migrate


def _config(tmp_path: Path, url: str) -> Config:
    config = Config(data_dir=str(tmp_path / "data"))
    config.database.url = url
    config.server.port = 0
    config.log.level = "warning"
    config.dialer.poll_interval_seconds = 0.02
    config.dialer.shutdown_grace = 1.0
    return config


async def test_api_only_service_accepts_calls_and_stops(tmp_path: Path, sqlite_url: str) -> None:
    config = _config(tmp_path, sqlite_url)
    config.dialer.enabled = False
    engine = create_db_engine(sqlite_url)
    token = provision(engine)
    service = Service(config)
    await service.start()
    try:
        assert service.dialer is None and service.telephony is None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
            reply = (await http.post("/v4.0", json=informer_call(token, "79260000001"))).json()
        sid = reply["result"]["data"]["call_session_id"]
    finally:
        await service.stop()
    assert session(engine, sid)["state"] == "queued"  # nobody dials in an API-only process
    engine.dispose()


async def test_session_over_http_is_finished_by_the_dialer(tmp_path: Path, sqlite_url: str) -> None:
    config = _config(tmp_path, sqlite_url)
    config.dialer.slot_wait_seconds = 0.3
    engine = create_db_engine(sqlite_url)
    token = provision(engine, max_concurrent_calls=0)  # the account may not call at all
    telephony = NeverDialTelephony()
    service = Service(config, telephony=telephony)
    await service.start()
    try:
        assert service.telephony is telephony and service.dialer is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
            reply = (await http.post("/v4.0", json=informer_call(token, "79260000002"))).json()
        sid = reply["result"]["data"]["call_session_id"]
        await async_wait_until(lambda: session(engine, sid)["state"] == "finished")
    finally:
        await service.stop()
    row = session(engine, sid)
    assert row["finish_reason"] == "max_out_call_reached"
    assert telephony.dialled == []
    engine.dispose()


async def test_busy_http_port_is_a_clear_error(tmp_path: Path, sqlite_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _config(tmp_path, sqlite_url)
        config.server.port = taken.getsockname()[1]
        service = Service(config, telephony=NeverDialTelephony())
        with pytest.raises(
            ServiceError, match=f"cannot listen for HTTP on 127.0.0.1:{config.server.port}"
        ):
            await service.start()
        assert service.dialer is not None and service.dialer.active_sessions == 0


def test_vestnik_serve_stops_on_sigterm(tmp_path: Path, sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    migrate(engine)
    engine.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(
        os.environ,
        VESTNIK_DATABASE_URL=sqlite_url,
        VESTNIK_DATA_DIR=str(tmp_path / "data"),
        VESTNIK_SERVER_PORT=str(port),
        VESTNIK_DIALER_ENABLED="false",
    )
    code = "from vestnik.config import load_config as c; from vestnik.service import run; run(c())"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "service exited during start-up"
            assert time.monotonic() < deadline, "service did not start"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_service_serves_data_api_upload_metrics_and_system_media(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = _config(tmp_path, sqlite_url)
    config.dialer.enabled = False
    engine = create_db_engine(sqlite_url)
    token = provision(engine)
    service = Service(config)
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
            body = {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "get.media_files",
                "params": {"access_token": token},
            }
            reply = (await http.post("/dataapi/v2.0", json=body)).json()
            upload = await http.post("/v4.0/media", files={"access_token": (None, token)})
            scrape = await http.get("/metrics")
            health = await http.get("/health")
    finally:
        await service.stop()
    names = {row["name"] for row in reply["result"]["data"] if row["type"] == "system"}
    assert {"beep", "chime", "test-message"} <= names  # created at start
    # The route is there, and an upload without a file is refused in the documented shape.
    assert upload.json()["error"]["data"]["mnemonic"] == "required_parameter_missed"
    assert "vestnik_api_requests_total" in scrape.text
    assert health.status_code == 200
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_database_that_does_not_answer_at_start_is_a_clear_error(
    tmp_path: Path, db_url: str
) -> None:
    with TcpProxy.in_front_of(db_url) as proxy:
        proxy.black_hole()
        config = _config(tmp_path, proxy.route(db_url))
        config.database.timeout = 1.0
        service = Service(config, telephony=NeverDialTelephony())
        started = time.monotonic()
        with pytest.raises(ServiceError, match=r"^database: the database did not answer in time"):
            await service.start()
        assert time.monotonic() - started < 1.0 + 1.5


async def test_http_connections_send_replies_without_delay(tmp_path: Path, sqlite_url: str) -> None:
    """Accepted HTTP connections have TCP_NODELAY: a reply written in pieces leaves at once
    instead of waiting ~40 ms for the client's delayed ACK (Nagle)."""
    config = _config(tmp_path, sqlite_url)
    config.dialer.enabled = False
    service = Service(config)
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
            assert (await http.get("/health")).status_code == 200
            assert service._server is not None
            # uvicorn's open connections (its protocols), looked at from inside the process.
            connections = service._server.server.server_state.connections
            sockets = [c.transport.get_extra_info("socket") for c in connections]
            assert sockets
            assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)
    finally:
        await service.stop()
