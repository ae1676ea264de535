"""Points per minute/day: charging, refusal, and exactness under real concurrency."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.support.api import CONTACT, VPN, Api, error_of, free_port, seed_account
from vestnik.api.limits import AccountLimits, LimitExceeded, charge
from vestnik.config import LimitsConfig
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account, update_account
from vestnik.store.schema import call_sessions, limit_counters


def same_minute() -> None:
    """Tests that count within one minute window must not straddle a minute boundary."""
    if time.time() % 60 > 50:
        time.sleep(60 - time.time() % 60 + 0.1)


def test_minute_limit(api: Api) -> None:
    same_minute()
    api.update_account(minute_limit=3)
    remaining = [api.start()["result"]["metadata"]["limits"]["minute_remaining"] for _ in range(3)]
    assert remaining == [2, 1, 0]
    reply = api.start()
    assert error_of(reply) == (-32029, "limit_exceeded")
    assert reply["error"]["message"] == (
        "Limit per minute has been exceeded. Value of current limit per minute is 3"
    )
    assert reply["error"]["data"]["params"] == {"limit_type": "minute", "limit_max_value": 3}
    assert reply["error"]["data"]["metadata"]["limits"]["minute_remaining"] == 0
    assert len(api.sessions()) == 3
    # Every method is charged against the same quota.
    assert error_of(api.rpc("list.calls", {"access_token": api.token}))[1] == "limit_exceeded"


def test_day_limit(api: Api) -> None:
    same_minute()
    api.update_account(day_limit=2)
    api.start()
    api.start()
    reply = api.start()
    assert error_of(reply) == (-32029, "limit_exceeded")
    assert reply["error"]["data"]["params"] == {"limit_type": "day", "limit_max_value": 2}
    limits = reply["error"]["data"]["metadata"]["limits"]
    assert limits["day_remaining"] == 0 and limits["minute_remaining"] == limits["minute_limit"] - 2
    assert api.charged() == 4  # 2 points in each window, nothing for the refusal


def test_only_successes_are_charged(api: Api) -> None:
    same_minute()
    for bad in (
        {"contact": "abc"},
        {"dialing_timeout": 0},
        {"virtual_phone_number": "74990000000"},
    ):
        assert "error" in api.start(**bad)
    assert api.charged() == 0
    limits = api.start()["result"]["metadata"]["limits"]
    assert limits["minute_remaining"] == limits["minute_limit"] - 1


def test_method_weights(api: Api) -> None:
    same_minute()
    api.update_account(method_weights={"start.informer_call": 5, "list.calls": 0}, minute_limit=12)
    assert api.start()["result"]["metadata"]["limits"]["minute_remaining"] == 7
    assert api.start()["result"]["metadata"]["limits"]["minute_remaining"] == 2
    listed = api.rpc("list.calls", {"access_token": api.token})
    assert listed["result"]["metadata"]["limits"]["minute_remaining"] == 2
    reply = api.start()  # 5 > 2 remaining
    assert error_of(reply)[1] == "limit_exceeded"
    # A method without its own weight costs the configured default (1).
    api.update_account(method_weights={})
    assert api.start()["result"]["metadata"]["limits"]["minute_remaining"] == 1


def test_old_windows_are_dropped(api: Api) -> None:
    with api.engine.begin() as conn:
        conn.execute(
            limit_counters.insert(),
            [{"account_id": api.account_id, "period": "minute", "window_start": 60, "used": 9},
             {"account_id": api.account_id, "period": "day", "window_start": 0, "used": 9}],
        )  # fmt: skip
    api.start()
    with api.engine.connect() as conn:
        starts = conn.execute(
            sa.select(limit_counters.c.window_start).where(
                limit_counters.c.account_id == api.account_id
            )
        ).scalars()
        assert min(starts) > 60


@pytest.fixture
def two_servers(db_url: str, tmp_path: Path) -> Iterator[tuple[list[str], Any, int, str]]:
    """Two API processes (``vestnik serve`` without the dialer) on one database: requests
    really race in the database. One runs its database work in threads, the other inline on
    its event loop."""
    engine = create_db_engine(db_url)
    account_id, token = seed_account(engine)
    procs, urls = [], []
    env = {
        **os.environ,
        "VESTNIK_LOG_LEVEL": "warning",
        "VESTNIK_DATABASE_URL": db_url,
        "VESTNIK_DIALER_ENABLED": "false",
    }
    try:
        for mode in ("thread", "inline"):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vestnik", "serve", "--port", str(port)],
                    env={
                        **env,
                        "VESTNIK_SERVER_DB_CALLS": mode,
                        "VESTNIK_DATA_DIR": str(tmp_path / mode),
                    },
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        for url in urls:
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("API server did not start")
                time.sleep(0.1)
        yield urls, engine, account_id, token
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        engine.dispose()


@pytest.mark.parametrize("binding", ["minute", "day", "none"])
async def test_parallel_requests_admit_exactly_the_remaining_quota(
    two_servers: tuple[list[str], Any, int, str], binding: str
) -> None:
    urls, engine, account_id, token = two_servers
    remaining, parallel = 15, 60
    with engine.begin() as conn:
        if binding == "minute":
            update_account(conn, account_id, minute_limit=remaining, day_limit=10_000)
        elif binding == "day":
            update_account(conn, account_id, minute_limit=10_000, day_limit=remaining)
        else:  # nothing refused: every request charges both rows at once (no deadlock)
            remaining = parallel

    async def one(client: httpx.AsyncClient, i: int) -> dict[str, Any]:
        body = {
            "jsonrpc": "2.0", "id": i, "method": "start.informer_call",
            "params": {"access_token": token, "virtual_phone_number": VPN, "contact": CONTACT,
                       "contact_message": {"type": "tts", "value": f"message {i}"}},
        }  # fmt: skip
        response = await client.post(urls[i % 2] + "/v4.0", json=body)
        assert response.status_code == 200
        return dict(response.json())

    # Not across a minute boundary (the minute window would reset mid-test).
    if time.time() % 60 > 50:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    limits = httpx.Limits(max_connections=parallel)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        replies = await asyncio.gather(*(one(client, i) for i in range(parallel)))
    ok = [r for r in replies if "result" in r]
    refused = [r for r in replies if "error" in r]
    assert len(ok) == remaining, [r["error"]["data"]["mnemonic"] for r in refused][:5]
    if refused:
        assert {r["error"]["data"]["mnemonic"] for r in refused} == {"limit_exceeded"}
        assert {r["error"]["data"]["params"]["limit_type"] for r in refused} == {binding}
    with engine.connect() as conn:
        sessions = conn.execute(
            sa.select(sa.func.count()).where(call_sessions.c.account_id == account_id)
        ).scalar()
        used = dict(
            conn.execute(
                sa.select(limit_counters.c.period, limit_counters.c.used).where(
                    limit_counters.c.account_id == account_id
                )
            ).all()
        )
    assert sessions == remaining
    assert used == {"minute": remaining, "day": remaining}


def test_charge_from_many_threads(engine: Any) -> None:
    """limits.charge straight on the database from 16 threads: exact, and no deadlock."""
    with engine.begin() as conn:
        account_id = create_account(conn, "threads", LimitsConfig())
    limits = AccountLimits(account_id, minute_limit=10**6, day_limit=300)
    admitted: list[int] = []
    failures: list[BaseException] = []

    def worker() -> None:
        for _ in range(30):
            try:
                with engine.begin() as conn:
                    charge(conn, limits, 1, time.time())
                admitted.append(1)
            except LimitExceeded:
                pass
            except BaseException as exc:  # a deadlock or anything else fails the test
                failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert len(admitted) == 300
