"""One session, several attempts, against a real SIPp callee: the whole service (HTTP API,
dialer, SIP) on SQLite and PostgreSQL.

The trunk is SIPp answering every INVITE with 180 then 486 Busy Here; the sessions are written
with their effective options as the intake stores them (``tests.support.sessions``). What SIPp
received is the measure: INVITEs per contact, and when they arrived.
"""

from __future__ import annotations

import asyncio
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

from tests.support.dialer import trunk_config
from tests.support.processes import async_wait_until
from tests.support.sessions import event_payloads, events, provision, queue_with_options, session
from tests.support.sipp import SippUas, requires_sipp
from vestnik.calls import FinishReason
from vestnik.calls.options import CallingWindow, CallOptions, RetryPolicy
from vestnik.service import Service
from vestnik.store import create_db_engine
from vestnik.store.db import now
from vestnik.store.schema import accounts

pytestmark = [requires_sipp, pytest.mark.sip]

BUSY = FinishReason.SUBSCRIBER_BUSY
INTERVAL = 10  # the documented minimum of retry.interval
# The dialer notices a due session at its next claim poll (20 ms here); the rest is the
# database round trips of the claim and begin_dialing on a loaded 2-core machine.
LATE_BOUND = 1.5


@dataclass
class Busy:
    service: Service
    engine: Engine
    http: httpx.AsyncClient
    token: str
    account_id: int
    sipp: SippUas

    def queue(self, contact: str, options: CallOptions) -> int:
        with self.engine.begin() as conn:
            sid = queue_with_options(conn, self.account_id, options, contact=contact)
        self.service.dialer.wake()  # as the API does after an insert
        return sid

    async def release(self, sid: int) -> dict[str, Any]:
        body = {
            "jsonrpc": "2.0", "id": 2, "method": "release.call",
            "params": {"access_token": self.token, "call_session_id": sid},
        }  # fmt: skip
        reply: dict[str, Any] = (await self.http.post("/v4.0", json=body)).json()
        return reply

    async def finished(self, sid: int, timeout: float) -> dict[str, Any]:
        await async_wait_until(
            lambda: session(self.engine, sid)["state"] == "finished", timeout, f"{sid} finished"
        )
        return session(self.engine, sid)


@asynccontextmanager
async def busy_callee(tmp_path: Path, url: str) -> AsyncIterator[Busy]:
    engine = create_db_engine(url)
    token = provision(engine)
    with engine.connect() as conn:
        account_id = int(conn.execute(sa.select(accounts.c.id)).scalar_one())
    template = {"CODE": 486, "REASON": "Busy Here"}
    sipp = SippUas.launch(
        "uas_reject.xml", tmp_path / "sipp", calls=None, timeout=None, template=template
    )
    try:
        service = Service(trunk_config(tmp_path, url, sipp))
        await service.start()
        try:
            base = f"http://127.0.0.1:{service.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                yield Busy(service, engine, http, token, account_id, sipp)
        finally:
            await service.stop()
    finally:
        sipp.stop()
        engine.dispose()


def moscow_window(start_offset: int, minutes: int) -> CallingWindow:
    """A window opening ``start_offset`` minutes from now, ``minutes`` long, in Moscow time."""
    moscow_now = (int(now() // 60) + 180) % 1440  # Moscow is UTC+3 all year
    start = (moscow_now + start_offset) % 1440
    return CallingWindow(start, (start + minutes) % 1440, "contact", "Europe/Moscow")


async def test_busy_callee_gets_exactly_n_invites_at_the_interval(
    tmp_path: Path, db_url: str
) -> None:
    retry = CallOptions(retry=RetryPolicy(3, INTERVAL, (BUSY,)))
    async with busy_callee(tmp_path, db_url) as run:
        sid = run.queue("79260001001", retry)
        row = await run.finished(sid, timeout=3 * INTERVAL + 15)
        invites = run.sipp.invite_times()
    assert (row["finish_reason"], row["attempt_count"], row["sip_code"]) == (
        "subscriber_busy", 3, 486,
    )  # fmt: skip
    log = row["attempt_log"]
    assert [(a["attempt"], a["finish_reason"], a["sip_code"]) for a in log] == [
        (n, "subscriber_busy", 486) for n in (1, 2, 3)
    ]
    for before, after in itertools.pairwise(log):  # interval: end of one to the next INVITE
        assert INTERVAL <= after["dial_at"] - before["end_at"] < INTERVAL + LATE_BOUND, log
    # At the callee: exactly three INVITEs (three calls), as far apart as that.
    times = invites["79260001001"]
    assert len(times) == 3, invites
    for first, second in itertools.pairwise(times):
        assert INTERVAL <= second - first < INTERVAL + 2 + LATE_BOUND, times
    assert events(run.engine, sid) == ["call_started", "attempt_failed"] * 2 + [
        "call_started", "call_finished",
    ]  # fmt: skip
    payloads = event_payloads(run.engine, sid)
    failed = [p for p in payloads if p["notification_mnemonic"] == "attempt_failed"]
    assert [(p["attempt"], p["finish_reason"], p["sip_code"]) for p in failed] == [
        (1, "subscriber_busy", 486), (2, "subscriber_busy", 486),
    ]  # fmt: skip
    finished = payloads[-1]
    assert (finished["attempts"], finished["finish_reason"], finished["dtmf_reply"]) == (
        3, "subscriber_busy", None,
    )  # fmt: skip


async def test_windows_and_release_of_waiting_sessions(tmp_path: Path, db_url: str) -> None:
    retry = RetryPolicy(3, INTERVAL, (BUSY,))
    async with busy_callee(tmp_path, db_url) as run:
        closed = run.queue("79260001011", CallOptions(calling_window=moscow_window(120, 60)))
        open_ = run.queue("79260001012", CallOptions(calling_window=moscow_window(-30, 60)))
        retried = run.queue("79260001013", CallOptions(retry=retry))
        await run.finished(open_, timeout=10)
        await async_wait_until(
            lambda: "attempt_failed" in events(run.engine, retried), 10, "the first attempt"
        )
        waiting = session(run.engine, closed)
        assert (waiting["state"], waiting["lease_owner"], waiting["attempt_count"]) == (
            "queued", None, 0,
        )  # fmt: skip
        assert 115 * 60 < waiting["scheduled_at"] - now() < 121 * 60
        for sid in (closed, retried):  # both wait: release.call ends them, no INVITE follows
            reply = await run.release(sid)
            assert reply["result"]["data"] == {"success": True}, reply
        rows = {sid: session(run.engine, sid) for sid in (closed, open_, retried)}
        await asyncio.sleep(INTERVAL + 2)  # well past the retry's time: nothing more is sent
        counts = run.sipp.calls_by_contact()
    assert rows[closed]["finish_reason"] == "released" and rows[closed]["dial_at"] is None
    assert rows[open_]["finish_reason"] == "subscriber_busy"
    assert (rows[retried]["finish_reason"], rows[retried]["attempt_count"]) == ("released", 1)
    assert counts == {"79260001012": 1, "79260001013": 1}
    assert events(run.engine, closed) == ["call_finished"]
    assert events(run.engine, retried) == ["call_started", "attempt_failed", "call_finished"]
