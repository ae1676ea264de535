"""The service wires the trunks: their status is stored as the probes see it, and a trunk's
``max_concurrent_calls`` holds at the SIP send (the database gate)."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest

from tests.support.dialer import SHORT, trunk_config
from tests.support.processes import async_wait_until
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas, requires_sipp
from vestnik.service import Service
from vestnik.store import create_db_engine
from vestnik.store.db import connection
from vestnik.store.trunks import stored_status

pytestmark = [requires_sipp, pytest.mark.sip]


async def test_the_running_service_stores_each_trunks_state(tmp_path: Path, db_url: str) -> None:
    engine = create_db_engine(db_url)
    template = {"code": 404, "reason": "Not Found"}
    sipp = SippUas.launch("uas_options.xml", tmp_path / "sipp", calls=None, timeout=None,
                          template=template)  # fmt: skip
    config = trunk_config(tmp_path, db_url, sipp)
    config.trunk.options_interval = 0.5
    service = Service(config)
    await service.start()

    def stored() -> dict[str, object]:
        with connection(engine) as conn:
            return stored_status(conn).get("trunk", {})

    try:
        dialer_id = service.dialer.dialer_id
        await async_wait_until(lambda: stored().get("state") == "up", 5, "trunk stored up")
        row = stored()
        assert (row["dialer"], row["host"], row["port"]) == (dialer_id, "127.0.0.1", sipp.port)
        assert (row["transport"], row["registered"], row["last_error"]) == ("udp", None, None)
        sipp.stop()
        await async_wait_until(lambda: stored().get("state") == "down", 5, "trunk stored down")
        assert stored()["last_error"] == "no answer to OPTIONS within 0.5 s"
    finally:
        sipp.stop()
        await service.stop()
        engine.dispose()


async def test_a_trunks_concurrent_call_cap_holds_at_the_send(
    tmp_path: Path, sqlite_url: str
) -> None:
    engine = create_db_engine(sqlite_url)
    token = provision(engine)
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        config = trunk_config(tmp_path, sqlite_url, sipp)
        config.trunk.max_concurrent_calls = 1
        service = Service(config)
        await service.start()
        try:
            base = f"http://127.0.0.1:{service.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                sids = []
                for i in range(3):
                    body = informer_call(token, f"7926000070{i}", SHORT)
                    reply = (await http.post("/v4.0", json=body)).json()
                    sids.append(reply["result"]["data"]["call_session_id"])
            await async_wait_until(
                lambda: all(session(engine, s)["state"] == "finished" for s in sids), 30,
                "the calls to finish",
            )  # fmt: skip
        finally:
            await service.stop()
    rows = sorted((session(engine, s) for s in sids), key=lambda r: r["answer_at"])
    assert [r["finish_reason"] for r in rows] == ["success_finish"] * 3, rows
    # All three were dialling at once (the dialer's own caps allow it) ...
    assert max(r["dial_at"] for r in rows) < min(r["end_at"] for r in rows)
    # ... but one call at a time was on the trunk: each next INVITE left (and was answered)
    # after the previous call had ended.
    for before, after in itertools.pairwise(rows):
        assert after["answer_at"] >= before["end_at"] - 0.05
    engine.dispose()
