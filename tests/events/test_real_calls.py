"""Webhooks and get.calls_report for sessions made by real calls (the service against SIPp)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.support.dialer import MEDIUM, trunk_config
from tests.support.events import SECRET, Receiver, running
from tests.support.processes import async_wait_until
from tests.support.sessions import informer_call, provision
from tests.support.sipp import SippUas
from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.events.webhooks import add_webhook
from vestnik.service import Service
from vestnik.store import create_db_engine
from vestnik.store.schema import accounts, call_sessions

pytestmark = pytest.mark.sip

ORDER = ["call_started", "call_answered", "call_finished"]
# The report's default set is the vendor's; this test compares some of our fields too.
REPORT_FIELDS = [
    "id", "finish_reason", "is_lost", "talk_duration", "total_duration", "wait_duration",
    "contact_phone_number", "call_api_external_id", "trunk",
]  # fmt: skip


async def test_real_calls_reach_webhooks_and_the_report(tmp_path: Path, db_url: str) -> None:
    engine = create_db_engine(db_url)
    token = provision(engine, max_concurrent_calls=2)
    receiver = Receiver()
    async with running(receiver):
        with engine.begin() as conn:
            account_id = conn.execute(sa.select(accounts.c.id)).scalar_one()
            add_webhook(conn, account_id, receiver.url, ",".join(ORDER), SECRET)
        with SippUas.trunk(tmp_path / "sipp") as sipp:
            config = trunk_config(tmp_path, db_url, sipp)
            config.dialer.slot_wait_seconds = 1.0
            config.webhooks.poll_interval_seconds = 0.02
            service = Service(config, engine=engine, extra_routes=dataapi_routes(config, engine))
            await service.start()
            try:
                base = f"http://127.0.0.1:{service.http_port}"
                async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                    sids = []
                    for i in range(4):  # the account may have 2 calls at once: 2 are refused
                        body = informer_call(
                            token, f"792600005{i:02d}", MEDIUM, external_id=f"o{i}"
                        )
                        reply = (await http.post("/v4.0", json=body)).json()
                        sids.append(int(reply["result"]["data"]["call_session_id"]))

                    def finished() -> bool:
                        with engine.connect() as conn:
                            states = conn.execute(
                                sa.select(call_sessions.c.state).where(call_sessions.c.id.in_(sids))
                            ).scalars()
                            return all(s == "finished" for s in states)

                    await async_wait_until(finished, 40, "4 finished sessions")
                    await async_wait_until(
                        lambda: (
                            sum(
                                r.body["notification_mnemonic"] == "call_finished"
                                for r in receiver.delivered()
                            )
                            >= 4
                        ),
                        20,
                        "4 call_finished webhooks",
                    )
                    now = datetime.now(UTC)
                    window = {
                        "date_from": (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
                        "date_till": (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
                    }
                    request = {
                        "jsonrpc": "2.0", "id": 1, "method": "get.calls_report",
                        "params": {"access_token": token, **window, "fields": REPORT_FIELDS},
                    }  # fmt: skip
                    report = (await http.post(DATA_API_PATH, json=request)).json()["result"]
            finally:
                await service.stop()
    engine.dispose()

    assert all(r.signature_ok for r in receiver.requests)
    by_session: dict[int, list[dict[str, Any]]] = {}
    for r in receiver.delivered():
        by_session.setdefault(r.body["call_session_id"], []).append(r.body)
    assert set(by_session) == set(sids)
    rows = {row["id"]: row for row in report["data"]}
    assert report["metadata"]["total_items"] == 4 and set(rows) == set(sids)
    reasons = sorted(row["finish_reason"] for row in rows.values())
    assert reasons == ["max_out_call_reached"] * 2 + ["success_finish"] * 2, rows
    for sid, bodies in by_session.items():
        kinds = [b["notification_mnemonic"] for b in bodies]
        finishes = [b for b in bodies if b["notification_mnemonic"] == "call_finished"]
        assert len({b["event_id"] for b in finishes}) == 1  # exactly one finish per session
        final, row = finishes[-1], rows[sid]
        if row["finish_reason"] == "success_finish":
            assert kinds == ORDER
            assert row["is_lost"] is False and row["talk_duration"] >= 2
        else:
            assert kinds == ["call_finished"]  # refused before dialling
            assert row["is_lost"] is True and row["talk_duration"] == 0
        # The report and the webhook tell the same story.
        assert final["finish_reason"] == row["finish_reason"]
        assert final["external_id"] == row["call_api_external_id"]
        assert final["contact_phone_number"] == row["contact_phone_number"]
        # Dialled sessions went out on the one trunk ([trunk] shorthand); refused ones on none.
        dialled = row["finish_reason"] == "success_finish"
        assert final["trunk"] == row["trunk"] == ("trunk" if dialled else None)
        assert final["talk_time_duration"] == row["talk_duration"]
        assert final["total_time_duration"] == row["total_duration"]
        assert final["wait_time_duration"] == row["wait_duration"]
