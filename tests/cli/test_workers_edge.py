"""``vestnik serve --workers 2`` with a tcp trunk: each worker supervises its own SIP edge
(Kamailio), in its own folder, on its own carrier-facing port (``[edge] tcp_port + i``), and
calls of both workers reach the carrier over TCP; SIGTERM stops both edges with the workers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from tests.support.certs import TestCa
from tests.support.db import pg_database_url, truncate_pg
from tests.support.processes import free_port, require_binary, wait_until
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas
from tests.support.tls_carrier import TlsCarrier
from vestnik.store import create_db_engine

pytestmark = [pytest.mark.sip, pytest.mark.postgres]

MESSAGE = "Проверка связи. Это тестовое сообщение сервиса Вестник."  # about 3 s


def _two_free_tcp_ports() -> int:
    """P such that P and P + 1 are free (TCP and UDP) now."""
    for _ in range(100):
        port = free_port()
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            probe.close()
    raise RuntimeError("no two consecutive free ports")


def test_each_worker_runs_its_own_edge(tmp_path: Path) -> None:
    require_binary("kamailio", "kamailio")
    url = pg_database_url()
    truncate_pg(url)
    engine = create_db_engine(url)
    token = provision(engine)
    ca = TestCa(tmp_path / "ca")
    edge_port = _two_free_tcp_ports()
    http_port, sip_port = free_port(), free_port()
    with (
        SippUas.trunk(tmp_path / "sipp") as sipp,
        TlsCarrier(
            (sipp.host, sipp.port), ca.issue("carrier", ips=["127.0.0.1"]),
            workdir=tmp_path / "carrier",
        ) as carrier,
    ):  # fmt: skip
        host, port = carrier.address("tcp")
        env = serve_env(
            tmp_path, url, sipp, http_port, sip_port,
            VESTNIK_TRUNK_HOST=host, VESTNIK_TRUNK_PORT=str(port), VESTNIK_TRUNK_TRANSPORT="tcp",
            VESTNIK_EDGE_TCP_PORT=str(edge_port), VESTNIK_DIALER_MAX_CONCURRENT_CALLS="2",
            VESTNIK_DIALER_MAX_WAITING_SESSIONS="0",
        )  # fmt: skip
        proc = ServeProcess(env, tmp_path / "serve.log", http_port, args=["--workers", "2"])
        edges = [tmp_path / "data" / "edge" / f"worker-{i}" for i in range(2)]
        try:
            proc.wait_ready()
            wait_until(lambda: len(proc.worker_pids()) == 2, 60, "both workers")
            for i, folder in enumerate(edges):
                assert f"tcp:127.0.0.1:{edge_port + i}" in (folder / "kamailio.cfg").read_text()
                with socket.create_connection(("127.0.0.1", edge_port + i), timeout=2):
                    pass  # its carrier-facing listener is up
            edge_pids = [int((f / "kamailio.pid").read_text()) for f in edges]
            contacts = [f"7926000090{i}" for i in range(6)]
            sids = []
            for contact in contacts:
                reply = httpx.post(proc.url + "/v4.0", json=informer_call(token, contact, MESSAGE))
                sids.append(int(reply.json()["result"]["data"]["call_session_id"]))
            wait_until(
                lambda: all(session(engine, s)["state"] == "finished" for s in sids), 60, "all"
            )
            assert proc.terminate() == 0
        finally:
            proc.cleanup()
        rows = [session(engine, s) for s in sids]
        assert [r["finish_reason"] for r in rows] == ["success_finish"] * len(rows), rows
        assert len({str(r["lease_owner"]).split("/")[0] for r in rows}) == 2  # both workers
        assert carrier.relayed("tcp") == len(contacts)
        assert sipp.calls_by_contact() == dict.fromkeys(contacts, 1)
        for pid in edge_pids:  # stopped with their workers
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    engine.dispose()
