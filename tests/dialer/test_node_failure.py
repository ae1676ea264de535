"""Node failure under load, at CI scale: two nodes on one PostgreSQL database, one killed with
its whole process group mid-load and brought back.

Node A is ``vestnik serve --workers 2`` (a supervisor and two workers), node B a plain
``vestnik serve``; each in its own process group, SIPp the trunk (calls of about 3 s). A steady
stream of ``start.informer_call`` goes to both nodes (to B alone while A is down). Once A has
calls up and the queue a backlog, A's process group is killed (kill -9) and A restarted at
once. Then:

- every accepted session ends ``finished`` with a ``finish_reason``;
- no contact gets two INVITEs (SIPp's message trace), and every dialled session got one;
- A's calls that were up end ``internal_error``, settled by A's restart (the same dialer ids)
  as soon as it runs, not after the 30 s lease; the time is printed;
- the sessions A accepted and had not dialled are dialled, some by B while A was down.

Each process dials at most 3 calls at once and claims none beyond (``max_waiting_sessions =
0``), so a backlog builds in the shared queue rather than in one process.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.db import pg_database_url, truncate_pg
from tests.support.processes import free_port, wait_until
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas
from vestnik.store import create_db_engine

pytestmark = [pytest.mark.sip, pytest.mark.postgres]

MESSAGE = "Проверка связи. Это тестовое сообщение сервиса Вестник."  # about 3 s
REQUESTS_PER_SECOND = 4.0
PER_PROCESS = {
    "VESTNIK_DIALER_MAX_CONCURRENT_CALLS": "3",
    "VESTNIK_DIALER_MAX_WAITING_SESSIONS": "0",
}
LIVE = ("dialing", "ringing", "answered")


class Load:
    """``start.informer_call`` at a steady rate, alternating between the nodes that answer."""

    def __init__(self, token: str, urls: dict[str, str]) -> None:
        self.token = token
        self.urls = urls
        self.down: set[str] = set()
        self.accepted: dict[int, tuple[str, str]] = {}  # session id → (node, contact)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._contacts = (f"79261{n:06d}" for n in itertools.count())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        nodes = itertools.cycle(sorted(self.urls))
        next_at = time.monotonic()
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                node = next(nodes)
                if node in self.down:
                    node = next(n for n in sorted(self.urls) if n not in self.down)
                contact = next(self._contacts)
                body = informer_call(self.token, contact, MESSAGE)
                try:
                    reply = client.post(self.urls[node] + "/v4.0", json=body).json()
                    sid = int(reply["result"]["data"]["call_session_id"])
                    self.accepted[sid] = (node, contact)
                except (httpx.HTTPError, KeyError):
                    pass  # not accepted (the node is down): not a session
                next_at += 1 / REQUESTS_PER_SECOND
                self._stop.wait(max(0.0, next_at - time.monotonic()))


def _rows(engine: Engine, sids: list[int]) -> dict[int, dict[str, Any]]:
    return {sid: session(engine, sid) for sid in sids}


def _owner(row: dict[str, Any]) -> str:
    return str(row["lease_owner"] or "").split("/")[0]


def test_kill9_of_a_node_under_load(tmp_path: Path) -> None:
    url = pg_database_url()
    truncate_pg(url)
    engine = create_db_engine(url)
    token = provision(engine)
    host = socket.gethostname()
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        ports = {name: (free_port(), free_port()) for name in ("a", "b")}
        envs = {
            name: serve_env(tmp_path / name, url, sipp, http, sip, **PER_PROCESS)
            for name, (http, sip) in ports.items()
        }
        a_ids = {f"{host}:{ports['a'][1]}", f"{host}:{ports['a'][1] + 1}"}
        b_ids = {f"{host}:{ports['b'][1]}"}

        def node(name: str) -> ServeProcess:
            args = ["--workers", "2"] if name == "a" else []
            return ServeProcess(envs[name], tmp_path / f"serve-{name}.log", ports[name][0], args)

        nodes = {"a": node("a"), "b": node("b")}
        load = Load(token, {name: proc.url for name, proc in nodes.items()})
        try:
            for proc in nodes.values():
                proc.wait_ready()
            wait_until(lambda: len(nodes["a"].worker_pids()) == 2, 60, "A's workers")
            load.start()

            def a_live() -> list[int]:
                rows = _rows(engine, list(load.accepted))
                return [s for s, r in rows.items() if r["state"] in LIVE and _owner(r) in a_ids]

            def backlog() -> list[int]:
                rows = _rows(engine, list(load.accepted))
                return [s for s, r in rows.items() if r["state"] == "queued"]

            wait_until(lambda: len(a_live()) >= 4 and len(backlog()) >= 4, 30, "load on A")
            load.down.add("a")
            nodes["a"].kill9()  # the supervisor, its workers and their pacers: one group
            killed = time.monotonic()
            interrupted = a_live()
            rows = _rows(engine, list(load.accepted))
            a_undialled = [
                s for s, r in rows.items() if r["state"] == "queued" and load.accepted[s][0] == "a"
            ]
            nodes["a"] = node("a")  # brought back at once, with the same dialer ids
            nodes["a"].wait_ready()
            wait_until(lambda: len(nodes["a"].worker_pids()) == 2, 60, "A's workers again")
            serving = time.monotonic()
            load.down.discard("a")
            wait_until(
                lambda: all(session(engine, s)["state"] == "finished" for s in interrupted),
                30,
                "A's interrupted calls to be settled",
            )
            settled = time.monotonic()
            time.sleep(2)  # load on both again
            load.stop()
            sids = list(load.accepted)
            wait_until(
                lambda: all(r["state"] == "finished" for r in _rows(engine, sids).values()),
                60,
                "every accepted session to finish",
            )
            for proc in nodes.values():
                assert proc.terminate() == 0
        finally:
            load.stop()
            for proc in nodes.values():
                proc.cleanup()
        print(
            f"{len(load.accepted)} sessions; kill -9 of A with {len(interrupted)} calls up and "
            f"{len(a_undialled)} of its sessions queued; A serving again after "
            f"{serving - killed:.1f} s; its calls settled {settled - killed:.1f} s after the "
            f"kill ({max(0.0, settled - serving):.1f} s after it served again)"
        )
        rows = _rows(engine, sids)
        assert len(rows) >= 20
        assert all(r["state"] == "finished" and r["finish_reason"] for r in rows.values())
        invites = sipp.calls_by_contact()
        assert max(invites.values()) == 1, [c for c, n in invites.items() if n > 1]
        dialled = {load.accepted[s][1] for s, r in rows.items() if r["dial_at"] is not None}
        assert set(invites) == dialled
        for sid in interrupted:
            assert rows[sid]["finish_reason"] == "internal_error", rows[sid]
            assert "previous run" in rows[sid]["finish_detail"], rows[sid]
        assert interrupted and settled - killed < 30  # by the restart, not the 30 s lease
        assert a_undialled
        assert all(rows[s]["dial_at"] is not None for s in a_undialled)
        assert any(_owner(rows[s]) in b_ids for s in a_undialled)  # B took over A's queue
        others = [s for s in sids if s not in interrupted]
        assert {rows[s]["finish_reason"] for s in others} == {"success_finish"}
    engine.dispose()
