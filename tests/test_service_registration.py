"""Two ``vestnik serve`` processes on one account of a registrar that takes calls only from
registered contacts: each registers its own contact, the calls go through, and SIGTERM
removes the binding of the process that stops, and only that one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.processes import free_port, wait_until
from tests.support.registrar import KamailioRegistrar
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas
from vestnik.store import create_db_engine

pytestmark = pytest.mark.sip

USER = "vestnik"
PASSWORD = "s3cret"


def test_each_serve_process_registers_and_unregisters_on_sigterm(
    tmp_path: Path, sqlite_url: str
) -> None:
    engine: Engine = create_db_engine(sqlite_url)
    token = provision(engine)
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD,
                          workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        trunk = {
            "VESTNIK_TRUNK_PORT": str(registrar.port),
            "VESTNIK_TRUNK_FROM_DOMAIN": registrar.domain,
            "VESTNIK_TRUNK_USERNAME": USER,
            "VESTNIK_TRUNK_PASSWORD": PASSWORD,
            "VESTNIK_TRUNK_REGISTER": "true",
            "VESTNIK_TRUNK_REGISTER_EXPIRES": "120",
        }
        processes: list[ServeProcess] = []
        contacts: list[str] = []
        try:
            for name in ("a", "b"):
                http_port, sip_port = free_port(), free_port()
                env = serve_env(tmp_path / name, sqlite_url, callee, http_port, sip_port, **trunk)
                processes.append(ServeProcess(env, tmp_path / f"serve-{name}.log", http_port))
                contacts.append(f"sip:{USER}@127.0.0.1:{sip_port}")
            for proc in processes:
                proc.wait_ready()
            wait_until(lambda: sorted(registrar.contacts()) == sorted(contacts), 10, "two")

            sids = []
            for i, proc in enumerate(processes):
                request = informer_call(token, f"7926000071{i}", "Проверка связи.")
                reply = httpx.post(proc.url + "/v4.0", json=request).json()
                sids.append(int(reply["result"]["data"]["call_session_id"]))
            wait_until(
                lambda: all(session(engine, s)["state"] == "finished" for s in sids), 60, "calls"
            )
            rows = [session(engine, s) for s in sids]
            assert [r["finish_reason"] for r in rows] == ["success_finish"] * 2, rows

            assert processes[0].terminate() == 0
            assert registrar.contacts() == [contacts[1]]
            assert processes[1].terminate() == 0
            assert registrar.contacts() == []
        finally:
            for proc in processes:
                proc.cleanup()
    engine.dispose()
