"""What a PostgreSQL round trip costs the API process, per driver, and what the hot path's
statements cost the server, per plan cache mode (the measurements behind ``store/intake_pg.py``).

    .venv/bin/python bench/pg_hot_path_bench.py [--url postgresql://postgres@127.0.0.1/postgres]
        [--queries 6000] [--statements 2000]

1. Drivers: a one-row prepared query (``SELECT $1::int + 1, now()``), ``--queries`` times, in
   this process pinned to ``--cpu``: psycopg blocking (one connection; 16 threads with one each),
   psycopg's AsyncConnection and asyncpg on uvloop (one connection; 16 at once). Prints the
   process's CPU time per query (user + system: the driver's Python and the syscalls) and
   queries per second.
2. Statements: on a fresh database (created and dropped) with the benchmark's account, the hot
   path's read and its charge (``vestnik_charge_points()``) ``--statements`` times each on one
   asyncpg connection, with ``plan_cache_mode`` ``auto`` (PostgreSQL's default) and
   ``force_generic_plan`` (what ``AsyncIntake`` sets); prints the server backend's CPU time per
   statement (from /proc: the server must run on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import psycopg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_bench
from vestnik.auth import hash_token
from vestnik.store import intake_pg

QUERY_DOLLAR = "SELECT $1::int + 1, now()"
QUERY_PERCENT = "SELECT %s::int + 1, now()"
CONCURRENCY = 16


def _timed(run: Callable[[], None]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def psycopg_blocking(dsn: str, n: int, threads: int) -> tuple[float, float]:
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(threads)]

    def work(conn: psycopg.Connection, count: int) -> None:
        cur = conn.cursor()
        for i in range(count):
            cur.execute(QUERY_PERCENT, (i,), prepare=True)
            cur.fetchone()

    work(conns[0], 200)

    def run() -> None:
        if threads == 1:
            work(conns[0], n)
            return
        pool = [threading.Thread(target=work, args=(c, n // threads)) for c in conns]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    try:
        return _timed(run)
    finally:
        for conn in conns:
            conn.close()


async def psycopg_async(dsn: str, n: int, k: int) -> tuple[float, float]:
    conns = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(k)]

    async def work(conn: psycopg.AsyncConnection, count: int) -> None:
        cur = conn.cursor()
        for i in range(count):
            await cur.execute(QUERY_PERCENT, (i,), prepare=True)
            await cur.fetchone()

    await work(conns[0], 200)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(work(c, n // k) for c in conns))
    result = time.process_time() - cpu, time.perf_counter() - wall
    for conn in conns:
        await conn.close()
    return result


async def asyncpg_run(kwargs: dict[str, object], n: int, k: int) -> tuple[float, float]:
    conns = [await asyncpg.connect(**kwargs) for _ in range(k)]

    async def work(conn: asyncpg.Connection, count: int) -> None:
        statement = await conn.prepare(QUERY_DOLLAR)
        for i in range(count):
            await statement.fetchrow(i)

    await work(conns[0], 200)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(work(c, n // k) for c in conns))
    result = time.process_time() - cpu, time.perf_counter() - wall
    for conn in conns:
        await conn.close()
    return result


def drivers(url: str, n: int) -> None:
    sa_url = api_bench.sa.make_url(url)
    kwargs = sa_url.translate_connect_args(username="user", database="database")
    dsn = " ".join(f"{k if k != 'database' else 'dbname'}={v}" for k, v in kwargs.items())
    k = CONCURRENCY
    runs: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        ("psycopg blocking, 1 connection", lambda: psycopg_blocking(dsn, n, 1)),
        (f"psycopg blocking, {k} threads", lambda: psycopg_blocking(dsn, n, k)),
        ("psycopg async, 1 connection", lambda: uvloop.run(psycopg_async(dsn, n, 1))),
        (f"psycopg async, {k} at once", lambda: uvloop.run(psycopg_async(dsn, n, k))),
        ("asyncpg, 1 connection", lambda: uvloop.run(asyncpg_run(kwargs, n, 1))),
        (f"asyncpg, {k} at once", lambda: uvloop.run(asyncpg_run(kwargs, n, k))),
    ]
    print(f"one-row prepared query, {n} times; CPU time of this process per query")
    for name, run in runs:
        cpu, wall = run()
        print(f"  {name:34s} {cpu / n * 1e6:7.1f} µs CPU/query {n / wall:8.0f} queries/s")


async def statements(url: str, n: int) -> None:
    db_url, name = api_bench.fresh_postgresql(url)
    try:
        token = api_bench.seed(db_url)
        kwargs = api_bench.sa.make_url(db_url).translate_connect_args(
            username="user", database="database"
        )
        at = time.time()
        windows = {"day": int(at // 86400) * 86400, "minute": int(at // 60) * 60}
        read = {
            "token_hash": hash_token(token), "vpn": api_bench.VPN, "contact": "79260000000",
            "contact_plus": "+79260000000", "media_id": None, "n": 79260000000,
            "day_start": windows["day"], "minute_start": windows["minute"],
        }  # fmt: skip
        print(f"hot-path statements, {n} times each on one connection; server backend CPU each")
        for mode in ("auto", "force_generic_plan"):
            conn = await asyncpg.connect(**kwargs, server_settings={"plan_cache_mode": mode})
            account = (await conn.fetchrow(intake_pg._READ.sql, *intake_pg._READ.args(read)))["id"]
            charge = "SELECT * FROM vestnik_charge_points($1, $2, $3, $4, $5, $6)"
            charge_args = [account, 1, windows["day"], 10**9, windows["minute"], 10**9]
            for label, sql, args in (
                ("read (token, account, facts)", intake_pg._READ.sql, intake_pg._READ.args(read)),
                ("charge (vestnik_charge_points)", charge, charge_args),
            ):
                before = api_bench.cpu_seconds(conn.get_server_pid())
                wall = time.perf_counter()
                for _ in range(n):
                    await conn.fetchrow(sql, *args)
                cpu = api_bench.cpu_seconds(conn.get_server_pid()) - before
                wall = time.perf_counter() - wall
                print(
                    f"  plan_cache_mode {mode:18s} {label:32s} {cpu / n * 1e6:6.0f} µs backend "
                    f"CPU, {wall / n * 1e6:6.0f} µs wall"
                )
            await conn.close()
    finally:
        api_bench.drop_postgresql(url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--queries", type=int, default=6000)
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--cpu", type=int, default=1, help="the CPU this process is pinned to")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    drivers(args.url, args.queries)
    asyncio.run(statements(args.url, args.statements))


if __name__ == "__main__":
    main()
