"""The console's pages with many sessions stored: how long each takes to answer.

    .venv/bin/python bench/console_pages.py [--sessions 200000] [--accounts 20]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a fresh database (a SQLite file in a temporary directory, or with ``--database-url``
a database ``vestnik_bench_<pid>`` on that PostgreSQL server, dropped at the end), migrates
it, inserts ``--sessions`` finished sessions spread over ``--accounts`` accounts and the last
24 hours (10 % in the last 3 hours), runs ANALYZE, signs an operator and one account's user
in through the console's login form, and prints the median and 95th percentile of 30 requests
of each page, in process over ASGI (no network, the database round trips included): the
overview (3 h and 24 h), its live part, the calls list (all, one account's user, filtered by
a contact typed as "+7 926 …"), a call's detail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from vestnik.cli.admin.inprocess import run_admin
from vestnik.config import LimitsConfig, load_config
from vestnik.console import console_routes
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account
from vestnik.store.db import Engine, migrate
from vestnik.store.schema import call_sessions

REASONS = ("success_finish", "success_finish", "subscriber_busy", "timeout",
           "subscriber_not_responsible", "subscriber_disconnects")  # fmt: skip


def _database(url: str | None) -> tuple[str, str | None]:
    if url is None:
        return f"sqlite:///{Path(tempfile.mkdtemp()) / 'console.db'}", None
    name = f"vestnik_bench_{os.getpid()}"
    admin = create_db_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False), url


def _seed(engine: Engine, sessions: int, accounts: int) -> None:
    migrate(engine)
    rng = random.Random(7)
    now = time.time()
    with engine.begin() as conn:
        ids = [create_account(conn, f"bench{i}", LimitsConfig()) for i in range(accounts)]
    batch: list[dict[str, object]] = []
    for n in range(sessions):
        recent = n % 10 == 0
        created = now - rng.uniform(0, 3 * 3600 if recent else 24 * 3600)
        batch.append({
            "account_id": ids[n % accounts], "virtual_phone_number": "74993720692",
            "usage_rule": "fixed", "caller_number": "74993720692",
            "contact": f"7926{n:07d}", "contact_kind": "phone", "direction": "out",
            "dialing_timeout": 30.0, "message_type": "tts", "message_value": "x",
            "state": "finished", "finish_reason": rng.choice(REASONS), "sip_code": 200,
            "created_at": created, "dial_at": created + 0.1, "answer_at": created + 3,
            "end_at": created + 10, "release_requested": False, "dial_attempts": 1,
            "external_id": f"order-{n}",
        })  # fmt: skip
        if len(batch) == 10_000 or n == sessions - 1:
            with engine.begin() as conn:
                conn.execute(call_sessions.insert(), batch)
            batch = []
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


async def _signed_in(app: Starlette, login: str, password: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    client = httpx.AsyncClient(transport=transport, base_url="http://bench/console")
    form = (await client.get("/login")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    fields = {"csrf_token": token.group(1), "login": login, "password": password}
    assert (await client.post("/login", data=fields)).status_code == 303
    return client


async def _time(client: httpx.AsyncClient, path: str, runs: int = 30) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        reply = await client.get(path)
        times.append(time.perf_counter() - started)
        assert reply.status_code == 200, (path, reply.status_code)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000


async def _measure(engine: Engine, url: str) -> None:
    config = load_config(None, environ={"VESTNIK_DATABASE_URL": url,
                                        "VESTNIK_DATA_DIR": tempfile.mkdtemp()})  # fmt: skip
    run_admin(["operator", "create", "op", "--password-stdin"], config, engine, stdin="op-pw")
    run_admin(["user", "create", "bench1", "ann", "ann-pw"], config, engine)
    app = Starlette(routes=console_routes(config, engine, run_admin))
    operator = await _signed_in(app, "op", "op-pw")
    user = await _signed_in(app, "ann", "ann-pw")
    pages = [
        ("operator", operator, "/"),
        ("operator", operator, "/?hours=24"),
        ("operator", operator, "/overview/live?hours=3"),
        ("operator", operator, "/calls"),
        ("operator", operator, "/calls/rows"),
        ("operator", operator, "/calls?q=%2B7+926+000-12-34"),
        ("operator", operator, "/calls/12345"),
        ("user", user, "/"),
        ("user", user, "/calls"),
    ]
    for who, client, path in pages:
        median, p95 = await _time(client, path)
        print(f"{who:8s} {path:34s} median {median:7.1f} ms   p95 {p95:7.1f} ms")
    await operator.aclose()
    await user.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url, admin_url = _database(args.database_url)
    try:
        engine = create_db_engine(url)
        started = time.perf_counter()
        _seed(engine, args.sessions, args.accounts)
        print(
            f"{args.sessions} sessions over {args.accounts} accounts, {engine.dialect.name}, "
            f"seeded in {time.perf_counter() - started:.0f} s"
        )
        asyncio.run(_measure(engine, url))
        engine.dispose()
    finally:
        if admin_url is not None:
            admin = create_db_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {sa.make_url(url).database}")
            admin.dispose()


if __name__ == "__main__":
    main()
