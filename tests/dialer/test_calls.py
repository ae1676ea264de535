"""Real calls: the whole service in this loop (HTTP, dialer, SIP, RTP) against a SIPp trunk.

Each test starts ``Service`` on a fresh SQLite database and SIPp (``uas_ring_then_answer.xml``: 180,
then 200 with PCMA, then waits for our BYE) on free loopback ports.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.dialer import MEDIUM, SHORT, LateFailingRenderer, trunk_config
from tests.support.processes import async_wait_until, free_port_range
from tests.support.sessions import events, informer_call, provision, queue_session, session
from tests.support.sipp import SippUas
from vestnik.calls.ports import MessageRenderer
from vestnik.service import Service
from vestnik.store import create_db_engine
from vestnik.store.schema import accounts

pytestmark = pytest.mark.sip


@dataclass
class Running:
    service: Service
    engine: Engine
    http: httpx.AsyncClient
    token: str
    sipp: SippUas

    async def call(self, contact: str, text: str = SHORT, **extra: Any) -> int:
        reply = (
            await self.http.post("/v4.0", json=informer_call(self.token, contact, text, **extra))
        ).json()
        assert "result" in reply, reply
        return int(reply["result"]["data"]["call_session_id"])

    async def finished(self, *sids: int, timeout: float = 30) -> list[dict[str, Any]]:
        await async_wait_until(
            lambda: all(session(self.engine, s)["state"] == "finished" for s in sids),
            timeout,
            f"sessions {sids} to finish",
        )
        return [session(self.engine, s) for s in sids]


@asynccontextmanager
async def running(
    tmp_path: Path,
    url: str,
    account_cap: int = 200,
    renderer: MessageRenderer | None = None,
    **dialer: Any,
) -> AsyncIterator[Running]:
    engine = create_db_engine(url)
    token = provision(engine, max_concurrent_calls=account_cap)
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        config = trunk_config(tmp_path, url, sipp)
        for key, value in dialer.items():
            section, _, name = key.partition("__")
            if name:
                setattr(getattr(config, section), name, value)
            else:
                setattr(config.dialer, key, value)
        service = Service(config, renderer=renderer)
        await service.start()
        try:
            base = f"http://127.0.0.1:{service.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                yield Running(service, engine, http, token, sipp)
        finally:
            await service.stop()
    engine.dispose()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def test_informer_call_is_placed_and_finished(tmp_path: Path, db_url: str) -> None:
    async with running(tmp_path, db_url) as run:
        before = (await run.http.get("/metrics")).text
        sid = await run.call("79260000101", SHORT, dtmf_string="12")
        (row,) = await run.finished(sid)
        after = (await run.http.get("/metrics")).text
    name = "vestnik_call_time_to_answer_seconds_count"
    assert _metric(after, name) > _metric(before, name)
    assert row["finish_reason"] == "success_finish", row
    assert row["sip_code"] == 200
    assert row["sip_call_id"]
    assert row["created_at"] <= row["dial_at"] <= row["ring_at"] <= row["answer_at"] < row["end_at"]
    assert row["dial_attempts"] == 1
    assert events(run.engine, sid) == ["call_started", "call_answered", "call_finished"]
    assert run.sipp.calls_by_contact() == {"79260000101": 1}


async def test_calls_beyond_the_rtp_ports_wait_for_a_port(tmp_path: Path, sqlite_url: str) -> None:
    # One even port: one call at a time. The others wait for it, as for any call slot,
    # instead of failing at once with "no free RTP port".
    low, _ = free_port_range(2)
    async with running(tmp_path, sqlite_url, rtp__port_min=low, rtp__port_max=low + 1) as run:
        assert run.service.dialer.max_calls == 1
        sids = [await run.call(f"7926000090{i}") for i in range(3)]
        rows = await run.finished(*sids, timeout=40)
    assert [r["finish_reason"] for r in rows] == ["success_finish"] * 3, rows


async def test_account_cap_ends_the_surplus_max_out_call_reached(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running(tmp_path, sqlite_url, account_cap=2, slot_wait_seconds=1.0) as run:
        sids = [await run.call(f"7926000020{i}", MEDIUM) for i in range(4)]
        rows = await run.finished(*sids)
    reasons = sorted(r["finish_reason"] for r in rows)
    assert reasons == ["max_out_call_reached"] * 2 + ["success_finish"] * 2, rows
    for row in rows:
        if row["finish_reason"] == "max_out_call_reached":
            assert row["dial_at"] is None and "account" in row["finish_detail"]
    dialled = {r["contact"] for r in rows if r["finish_reason"] == "success_finish"}
    assert run.sipp.calls_by_contact() == dict.fromkeys(dialled, 1)


async def test_process_cap_and_trunk_rate_pace_the_calls(tmp_path: Path, sqlite_url: str) -> None:
    async with running(
        tmp_path, sqlite_url, max_concurrent_calls=1, trunk__calls_per_second=4.0
    ) as run:
        sids = [await run.call(f"7926000030{i}", SHORT) for i in range(3)]
        rows = await run.finished(*sids)
    assert [r["finish_reason"] for r in rows] == ["success_finish"] * 3
    rows.sort(key=lambda r: r["dial_at"])
    for before, after in itertools.pairwise(rows):
        assert after["dial_at"] >= before["end_at"]  # one call at a time
        assert after["dial_at"] - before["dial_at"] >= 0.24  # 4 calls/s at most


async def test_release_call_hangs_up_an_answered_call(tmp_path: Path, sqlite_url: str) -> None:
    async with running(tmp_path, sqlite_url) as run:
        sid = await run.call("79260000401", MEDIUM * 3)
        await async_wait_until(
            lambda: session(run.engine, sid)["state"] == "answered", 10, "answer"
        )
        body = {
            "jsonrpc": "2.0", "id": 2, "method": "release.call",
            "params": {"access_token": run.token, "call_session_id": sid},
        }  # fmt: skip
        reply = (await run.http.post("/v4.0", json=body)).json()
        assert reply.get("result") is not None, reply
        (row,) = await run.finished(sid, timeout=5)
    assert row["finish_reason"] == "released", row
    assert row["end_at"] - row["answer_at"] < 3  # cut well before the message's end


async def test_graceful_stop_drains_then_cuts(tmp_path: Path, sqlite_url: str) -> None:
    # Drain long enough for the medium message (~5 s by festival), too short for the long one.
    async with running(tmp_path, sqlite_url, shutdown_grace=9.0) as run:
        short = await run.call("79260000501", MEDIUM)
        long = await run.call("79260000502", MEDIUM * 6)
        await async_wait_until(
            lambda: all(session(run.engine, s)["state"] == "answered" for s in (short, long)),
            10,
            "both answered",
        )
        await run.service.dialer.stop()  # what SIGTERM does first
        assert run.service.dialer.active_sessions == 0
        rows = [session(run.engine, s) for s in (short, long)]
    assert rows[0]["finish_reason"] == "success_finish", rows[0]
    assert rows[1]["finish_reason"] == "internal_error", rows[1]
    assert "drain timeout" in rows[1]["finish_detail"]


async def test_render_failure_after_answer_hangs_up(tmp_path: Path, sqlite_url: str) -> None:
    renderer = LateFailingRenderer(delay=1.0)  # SIPp answers after 0.3 s
    async with running(tmp_path, sqlite_url, renderer=renderer) as run:
        sid = await run.call("79260000801", MEDIUM)
        (row,) = await run.finished(sid, timeout=10)
    assert row["finish_reason"] == "internal_error", row
    assert "message render failed" in row["finish_detail"]
    assert row["answer_at"] is not None  # it was up, and was hung up
    assert row["end_at"] - row["dial_at"] < 3
    assert run.sipp.calls_by_contact() == {"79260000801": 1}


async def test_render_failure_before_answer_is_internal_error(
    tmp_path: Path, sqlite_url: str
) -> None:
    # A real failure: a media message whose file is not there (the API checked it existed).
    async with running(tmp_path, sqlite_url) as run:
        with run.engine.begin() as conn:
            account_id = conn.execute(sa.select(accounts.c.id)).scalar_one()
            sid = queue_session(
                conn, account_id, contact="79260000802", message_type="media",
                message_value="999999", media_file_id=999999,
            )  # fmt: skip
        (row,) = await run.finished(sid, timeout=10)
    assert row["finish_reason"] == "internal_error", row
    assert "message render failed" in row["finish_detail"]
    assert sum(run.sipp.calls_by_contact().values()) <= 1


async def test_call_longer_than_the_bound_is_hung_up(tmp_path: Path, sqlite_url: str) -> None:
    async with running(tmp_path, sqlite_url, max_call_seconds=1.5) as run:
        sid = await run.call("79260000901", MEDIUM * 4)
        (row,) = await run.finished(sid, timeout=10)
    assert row["finish_reason"] == "internal_error", row
    assert "max_call_seconds" in row["finish_detail"]
    assert 1.4 <= row["end_at"] - row["dial_at"] < 4
