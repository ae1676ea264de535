"""The dialer's trunk routing end to end: Dialer + SipTelephony against SIPp trunks, on SQLite
and PostgreSQL; what the session records (trunk, attempts, finish_detail, the event)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.dialer import dialer_config
from tests.support.processes import async_wait_until, free_port_range
from tests.support.sessions import events, new_account, queue_session, session
from tests.support.sipp import SippUas, requires_sipp
from vestnik.calls.session import CallSession
from vestnik.config import Config, TrunkConfig
from vestnik.dialer import Dialer
from vestnik.dialer.database import DialerDatabase
from vestnik.dialer.routing import Router
from vestnik.media.render import AudioRenderer
from vestnik.store import create_db_engine
from vestnik.store.accounts import update_account
from vestnik.store.schema import call_events
from vestnik.store.sessions import get_session
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = [requires_sipp, pytest.mark.sip]


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


def config_with(tmp_path: Path, url: str, trunks: list[TrunkConfig]) -> Config:
    config = dialer_config(tmp_path, url, slot_wait_seconds=10.0, lease_seconds=5.0)
    config.sip.bind_host, config.sip.port = "127.0.0.1", 0
    config.rtp.port_min, config.rtp.port_max = free_port_range(20)
    config.rtp.pacer_process = False
    config.trunks = trunks
    return config


@asynccontextmanager
async def dialing(config: Config, db: Engine) -> AsyncIterator[Dialer]:
    telephony = SipTelephony(config)
    await telephony.start()
    dialer = Dialer(config, db, telephony, AudioRenderer(config, db))
    await dialer.start()
    try:
        yield dialer
    finally:
        await dialer.stop()
        await telephony.stop()


async def finished(db: Engine, *sids: int, timeout: float = 30) -> list[dict[str, Any]]:
    await async_wait_until(
        lambda: all(session(db, s)["state"] == "finished" for s in sids),
        timeout,
        f"sessions {sids} to finish",
    )
    return [session(db, s) for s in sids]


def finished_payload(db: Engine, sid: int) -> dict[str, Any]:
    with db.connect() as conn:
        payload = conn.execute(
            sa.select(call_events.c.payload).where(
                call_events.c.call_session_id == sid, call_events.c.event_type == "call_finished"
            )
        ).scalar_one()
    return dict(payload)


def refusing(tmp_path: Path, code: int, reason: str, calls: int = 1) -> SippUas:
    template = {"CODE": code, "REASON": reason}
    return SippUas.launch("uas_refuse.xml", tmp_path, calls=calls, template=template)


async def test_failover_is_recorded_in_the_session_and_its_event(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    first = refusing(tmp_path, 503, "Service Unavailable")
    with SippUas.trunk(tmp_path / "second") as second:
        trunks = [
            TrunkConfig(name="first", host="127.0.0.1", port=first.port),
            TrunkConfig(name="second", host="127.0.0.1", port=second.port, priority=2),
        ]
        with db.begin() as conn:
            sid = queue_session(conn, new_account(conn), message_value="Проверка.")
        async with dialing(config_with(tmp_path, db_url, trunks), db):
            (row,) = await finished(db, sid)
        assert second.calls_by_contact() == {"79260000001": 1}
    assert await asyncio.to_thread(first.wait, 10.0) == 0, first.log()
    assert row["finish_reason"] == "success_finish", row
    assert (row["sip_code"], row["sip_reason"], row["trunk"]) == (200, "OK", "second")
    assert row["attempts"] == [
        {"trunk": "first", "sip_code": 503, "sip_reason": "Service Unavailable"},
        {"trunk": "second", "sip_code": 200, "sip_reason": "OK"},
    ]
    assert row["finish_detail"] == "first: 503 Service Unavailable; second: 200 OK"
    assert events(db, sid) == ["call_started", "call_answered", "call_finished"]
    assert finished_payload(db, sid)["trunk"] == "second"


async def test_sessions_go_to_the_trunk_of_their_account_and_prefix(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    mobile = refusing(tmp_path, 486, "Busy Here")
    city = refusing(tmp_path, 486, "Busy Here")
    trunks = [
        TrunkConfig(name="mobile", host="127.0.0.1", port=mobile.port, prefixes=["7926"],
                    accounts=["acme"]),
        TrunkConfig(name="city", host="127.0.0.1", port=city.port, prefixes=["7495"]),
    ]  # fmt: skip
    with db.begin() as conn:
        acme = new_account(conn, "acme")
        globex = new_account(conn, "globex")
        to_mobile = queue_session(conn, acme, contact="79260000001")
        to_city = queue_session(conn, globex, contact="74950000002")
        unrouted = queue_session(conn, globex, contact="79260000003")  # mobile is acme's only
    async with dialing(config_with(tmp_path, db_url, trunks), db):
        rows = await finished(db, to_mobile, to_city, unrouted)
    assert await asyncio.to_thread(mobile.wait, 10.0) == 0, mobile.log()
    assert await asyncio.to_thread(city.wait, 10.0) == 0, city.log()
    assert [(r["finish_reason"], r["trunk"]) for r in rows] == [
        ("subscriber_busy", "mobile"),
        ("subscriber_busy", "city"),
        ("out_call_not_allowed", None),
    ]
    assert "INVITE sip:79260000001@" in mobile.log() and "INVITE sip:74950000002@" in city.log()
    assert rows[2]["finish_detail"] == (
        "no trunk routes this call (mobile: account 'globex' not in its accounts; "
        "city: no prefix of 79260000003)"
    )
    assert (rows[2]["dial_at"], rows[2]["attempts"]) == (None, None)
    assert events(db, unrouted) == ["call_finished"]
    assert finished_payload(db, unrouted)["trunk"] is None


async def test_account_names_are_cached(db: Engine) -> None:
    trunks = [TrunkConfig(name="acme-only", host="127.0.0.1", accounts=["acme"])]
    with db.begin() as conn:
        account_id = new_account(conn, "acme")
        row = get_session(conn, queue_session(conn, account_id))
    assert row is not None
    call = CallSession.from_row(row)
    database = DialerDatabase(db)
    try:
        cached, fresh = Router(trunks, database), Router(trunks, database, ttl=0.0)
        assert await cached.route(call) == (("acme-only",), None)
        assert await fresh.route(call) == (("acme-only",), None)
        with db.begin() as conn:
            update_account(conn, account_id, name="acme-renamed")
        assert await cached.route(call) == (("acme-only",), None)  # within the TTL
        route, refused = await fresh.route(call)
        assert route == () and refused is not None and "'acme-renamed'" in refused
    finally:
        await database.close()
