"""The claim with many sessions waiting for later (retries, calling windows): plan and time.

    .venv/bin/python bench/claim_scheduled.py [--waiting 20000] [--unscheduled 100]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a fresh database (a SQLite file in a temporary directory, or with ``--database-url``
a database ``vestnik_bench_<pid>`` on that PostgreSQL server, dropped at the end), migrates
it, inserts ``--waiting`` queued sessions scheduled an hour ahead and ``--unscheduled`` queued
ones, runs ANALYZE, then prints the plan of each of the claim's two candidate queries
(``store.sessions.claim_candidates``: due scheduled sessions by time, unscheduled ones by id)
and the median time of 50 runs of each on one connection, round trip included (on PostgreSQL
psycopg prepares the statement after 5 runs, and the server may then use a generic plan: the
median covers both). Nothing is claimed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from vestnik.config import LimitsConfig
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account
from vestnik.store.db import migrate
from vestnik.store.schema import call_sessions
from vestnik.store.sessions import claim_candidates


def _database(url: str | None) -> tuple[str, str | None]:
    """(the URL to use, the admin URL to drop it with afterwards, or None)."""
    if url is None:
        return f"sqlite:///{Path(tempfile.mkdtemp()) / 'claim.db'}", None
    name = f"vestnik_bench_{os.getpid()}"
    admin = create_db_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False), url


def _seed(url: str, waiting: int, unscheduled: int) -> None:
    engine = create_db_engine(url)
    migrate(engine)
    later = time.time() + 3600
    with engine.begin() as conn:
        account_id = create_account(conn, "bench", LimitsConfig())
        row = {
            "account_id": account_id, "virtual_phone_number": "74993720692",
            "usage_rule": "fixed", "caller_number": "74993720692", "contact": "79260000001",
            "contact_kind": "phone", "direction": "out", "dialing_timeout": 30.0,
            "message_type": "tts", "message_value": "x", "state": "queued", "created_at": 0.0,
            "release_requested": False, "dial_attempts": 0,
        }  # fmt: skip
        rows = [{**row, "scheduled_at": later} for _ in range(waiting)]
        rows += [{**row, "scheduled_at": None} for _ in range(unscheduled)]
        conn.execute(call_sessions.insert(), rows)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def _measure(url: str) -> None:
    engine = create_db_engine(url)
    at = time.time()
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    for name, scheduled in (("due scheduled", True), ("unscheduled", False)):
        query = claim_candidates(at, scheduled, 100)
        with engine.connect() as conn:
            text = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            print(f"--- {name}")
            for line in conn.exec_driver_sql(explain + text):
                print("   ", " ".join(str(v) for v in line))
            times = []
            for _ in range(50):
                started = time.perf_counter()
                conn.execute(query).all()
                times.append(time.perf_counter() - started)
            print(f"    median {statistics.median(times) * 1000:.2f} ms over 50 runs")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=20_000)
    parser.add_argument("--unscheduled", type=int, default=100)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url, admin_url = _database(args.database_url)
    try:
        _seed(url, args.waiting, args.unscheduled)
        print(f"{args.waiting} waiting (scheduled +1 h), {args.unscheduled} unscheduled")
        _measure(url)
    finally:
        if admin_url is not None:
            admin = create_db_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {sa.make_url(url).database}")
            admin.dispose()


if __name__ == "__main__":
    main()
