"""The whole service riding out a cut PostgreSQL link, with no restart.

``vestnik.service.Service`` (API, dialer, webhook worker, /metrics) reaches PostgreSQL through
a TCP proxy the test controls, dials SIPp, and notifies a real HTTP receiver. The test cuts
the link (connections reset, new ones refused) or black-holes it (connections kept, nothing
answered) while a call is up, queues a session straight into the database meanwhile, and
restores the link a few seconds later. Expected: one log line
when the database goes and one when it is back (no traceback, no line per poll),
``vestnik_database_up`` 0 then 1, the call that ended during the outage finished with its real
outcome, the queued session dialled afterwards, and every webhook delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support.events import SECRET, Receiver, running
from tests.support.processes import async_wait_until
from tests.support.sessions import events, informer_call, provision, queue_session, session
from tests.support.tcp_proxy import TcpProxy
from vestnik.events.webhooks import add_webhook
from vestnik.store import create_db_engine
from vestnik.store.schema import accounts

pytestmark = [pytest.mark.sip, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]
# How the first failure reads in the log, per fault.
FIRST_ERROR = {
    "cut": "(psycopg.OperationalError)",  # the reset connection, or the refused new one
    "black_hole": "the database did not answer in time ([database] timeout 1 s)",
}
pytest.importorskip("vestnik.telephony.sip.adapter", reason="SIP telephony adapter not built")

from tests.support.dialer import MEDIUM, trunk_config  # noqa: E402
from tests.support.sipp import SippUas  # noqa: E402
from vestnik.service import Service  # noqa: E402

OUTAGE_SECONDS = 4.0  # shorter than the lease (5 s in trunk_config): no session is swept
EVENTS = ["call_started", "call_answered", "call_finished"]
STOP_BOUND_SECONDS = 60.0  # a stop that hangs on the database is a failure, not a stuck run


async def _database_up(http: httpx.AsyncClient) -> float:
    scrape = await http.get("/metrics", timeout=5)
    for line in scrape.text.splitlines():
        if line.startswith("vestnik_database_up "):
            return float(line.split()[1])
    raise AssertionError("no vestnik_database_up in /metrics")


async def _until_database_up_is(http: httpx.AsyncClient, value: float) -> None:
    deadline = time.monotonic() + 10
    while await _database_up(http) != value:
        assert time.monotonic() < deadline, f"vestnik_database_up never became {value}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("fault", sorted(FIRST_ERROR))
async def test_service_rides_out_a_database_outage(
    tmp_path: Path, db_url: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vestnik")
    direct = create_db_engine(db_url)  # the test's own way in: not through the proxy
    token = provision(direct)
    receiver = Receiver()
    async with running(receiver):
        with direct.begin() as conn:
            account_id = conn.execute(sa.select(accounts.c.id)).scalar_one()
            add_webhook(conn, account_id, receiver.url, ",".join(EVENTS), SECRET)
        with TcpProxy.in_front_of(db_url) as proxy, SippUas.trunk(tmp_path / "sipp") as sipp:
            config = trunk_config(tmp_path, proxy.route(db_url), sipp)
            config.database.timeout = 1.0
            config.webhooks.poll_interval_seconds = 0.02
            # A claim whose commit the fault cut off leaves its deliveries leased: they go out
            # when the lease (5 timeouts + 5 s) runs out. Keep that within the wait below.
            config.webhooks.timeout_seconds = 1.0
            service = Service(config)
            await service.start()
            try:
                base = f"http://127.0.0.1:{service.http_port}"
                async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                    body = informer_call(token, "79260000901", MEDIUM)
                    up_call = (await http.post("/v4.0", json=body)).json()["result"]["data"]
                    up_id = int(up_call["call_session_id"])
                    await async_wait_until(
                        lambda: session(direct, up_id)["state"] == "answered", 10, "the answer"
                    )
                    caplog.clear()
                    getattr(proxy, fault)()
                    await _until_database_up_is(http, 0)
                    started = time.monotonic()
                    scrape = await http.get("/metrics")
                    assert time.monotonic() - started < 0.5  # no wait for the database
                    assert "vestnik_call_sessions" not in scrape.text  # left out while down
                    with direct.begin() as conn:
                        queued_id = queue_session(conn, account_id, contact="79260000902")
                    await asyncio.sleep(OUTAGE_SECONDS)  # the call ends meanwhile
                    outage = list(caplog.records)
                    proxy.forward()
                    await async_wait_until(
                        lambda: all(
                            session(direct, s)["state"] == "finished" for s in (up_id, queued_id)
                        ),
                        30,
                        "both sessions to finish",
                    )
                    await async_wait_until(
                        lambda: len(receiver.delivered()) >= 2 * len(EVENTS), 20, "webhooks"
                    )
                    await _until_database_up_is(http, 1)
            finally:
                await asyncio.wait_for(service.stop(), STOP_BOUND_SECONDS)
    rows = [session(direct, s) for s in (up_id, queued_id)]
    assert [r["finish_reason"] for r in rows] == ["success_finish"] * 2, rows
    assert [r["dial_attempts"] for r in rows] == [1, 1]
    assert sipp.calls_by_contact() == {"79260000901": 1, "79260000902": 1}
    for sid in (up_id, queued_id):
        assert events(direct, sid) == EVENTS
        delivered = [r.body for r in receiver.delivered() if r.body["call_session_id"] == sid]
        assert [d["notification_mnemonic"] for d in delivered] == EVENTS
    direct.dispose()

    # The log: bounded, no traceback; the outage told once each way.
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"
    noisy = [r for r in outage if r.levelno >= logging.WARNING]
    assert len(noisy) <= 3, [r.getMessage() for r in noisy]
    told = [r.getMessage() for r in caplog.records if r.name == "vestnik.database"]
    assert len(told) == 2, told
    assert told[0].startswith("database unavailable (") and "\n" not in told[0]
    assert FIRST_ERROR[fault] in told[0]
    assert told[1].startswith("database available again (")
