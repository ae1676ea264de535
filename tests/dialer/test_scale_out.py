"""Two ``vestnik serve`` processes on one database share the queue and the account cap.

PostgreSQL is the scale-out deployment (``FOR UPDATE SKIP LOCKED``); the same holds on one
SQLite file, where every transaction takes the single writer lock.

Each process may hold two sessions (``max_concurrent_calls = 2``, no waiting room), the
account may have three calls at once: both processes dial, every session is dialled exactly
once (SIPp counts INVITEs), and at no moment do the account's calls exceed three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.processes import free_port, wait_until
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas
from vestnik.store import create_db_engine

pytestmark = pytest.mark.sip

MESSAGE = "Проверка связи. Это тестовое сообщение сервиса Вестник."  # about 3 s
ACCOUNT_CAP = 3


def _max_overlap(rows: list[dict[str, Any]]) -> int:
    """Most calls up at one instant, from their [dial_at, end_at] intervals."""
    starts = [(float(r["dial_at"]), 1) for r in rows]
    ends = [(float(r["end_at"]), -1) for r in rows]
    edges = sorted(starts + ends)  # at the same instant an end (-1) sorts before a start
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


def test_two_dialers_share_queue_and_account_cap(tmp_path: Path, db_url: str) -> None:
    engine: Engine = create_db_engine(db_url)
    token = provision(engine, max_concurrent_calls=ACCOUNT_CAP)
    limits = {
        "VESTNIK_DIALER_MAX_CONCURRENT_CALLS": "2",
        "VESTNIK_DIALER_MAX_WAITING_SESSIONS": "0",
    }
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        processes = []
        try:
            for name in ("a", "b"):
                http_port = free_port()
                env = serve_env(tmp_path / name, db_url, sipp, http_port, free_port(), **limits)
                processes.append(ServeProcess(env, tmp_path / f"serve-{name}.log", http_port))
            for proc in processes:
                proc.wait_ready()
            contacts = [f"7926000070{i}" for i in range(6)]
            sids = []
            for i, contact in enumerate(contacts):
                url = processes[i % 2].url + "/v4.0"
                reply = httpx.post(url, json=informer_call(token, contact, MESSAGE)).json()
                sids.append(int(reply["result"]["data"]["call_session_id"]))
            wait_until(
                lambda: all(session(engine, s)["state"] == "finished" for s in sids), 60, "all"
            )
            for proc in processes:
                assert proc.terminate() == 0
        finally:
            for proc in processes:
                proc.cleanup()
        rows = [session(engine, s) for s in sids]
        assert [r["finish_reason"] for r in rows] == ["success_finish"] * len(rows), rows
        assert _max_overlap(rows) <= ACCOUNT_CAP
        dialers = {str(r["lease_owner"]).split("/")[0] for r in rows}
        assert len(dialers) == 2, dialers  # both processes dialled
        assert sipp.calls_by_contact() == dict.fromkeys(contacts, 1)
    engine.dispose()
