"""get.calls_report (and get.call_legs_report) over a large call history: one page of 1000 rows
with a one-day window.

    .venv/bin/python bench/report_calls.py [--rows 1000000] [--days 90] [--repeat 20]
                                           [--db-url URL]

Fills ``call_sessions`` with ``--rows`` finished sessions of one account spread evenly over
``--days`` days (bulk insert), serves the app (Call API + Data API) with uvicorn on loopback
and times ``get.calls_report`` over real HTTP: the first page (limit 1000) of one day, a later
page (offset 5000), the same page with a filter and a sort, with every field the method has,
and the first page of the legs report. Prints the plan of the page
query too. Default database: a fresh SQLite file; ``--db-url`` takes an empty PostgreSQL
database (it is migrated and filled; drop it afterwards).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from vestnik.api import create_app
from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.api.server import uvicorn_config
from vestnik.auth import TokenKind
from vestnik.config import Config, LimitsConfig
from vestnik.store import create_db_engine, migrate
from vestnik.store.accounts import create_account, update_account
from vestnik.store.admin_users import issue_token
from vestnik.store.reports.calls import CALLS_REPORT
from vestnik.store.schema import call_sessions

CHUNK = 20_000
REASONS = ["subscriber_busy"] * 3 + ["subscriber_not_responsible"] * 6 + ["timeout"]


def fill(engine: sa.Engine, account_id: int, rows: int, days: int) -> tuple[float, float]:
    end = time.time()
    start = end - days * 86400
    step = (end - start) / rows
    rng = random.Random(1)
    t0 = time.perf_counter()
    for first in range(0, rows, CHUNK):
        batch = []
        for i in range(first, min(rows, first + CHUNK)):
            t = start + i * step
            answered = rng.random() < 0.7
            batch.append(
                {
                    "account_id": account_id, "source": "callapi_informer_call",
                    "request_id": f'"r{i}"', "external_id": f"order-{i}",
                    "virtual_phone_number": "74993720692", "usage_rule": "fixed",
                    "caller_number": "74993720692", "contact": f"7926{i % 10_000_000:07d}",
                    "contact_kind": "phone", "contact_region": "Москва", "contact_country": "RU",
                    "direction": "out",
                    "dialing_timeout": 30.0, "message_type": "tts", "message_value": "x",
                    "state": "finished",
                    "finish_reason": "success_finish" if answered else REASONS[i % 10],
                    "sip_code": 200, "created_at": t, "dial_at": t + 0.01,
                    "answer_at": t + 4 if answered else None, "end_at": t + 19,
                    "release_requested": False, "dial_attempts": 1,
                }
            )  # fmt: skip
        with engine.begin() as conn:
            conn.execute(call_sessions.insert(), batch)
    print(f"inserted {rows} sessions in {time.perf_counter() - t0:.1f} s")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE call_sessions")
        else:
            conn.exec_driver_sql("ANALYZE")
    return start, end


class ThreadServer:
    def __init__(self, app: Any, config: Config, port: int) -> None:
        options = {"host": "127.0.0.1", "port": port, "log_level": "warning", "lifespan": "off"}
        self.server = uvicorn.Server(uvicorn_config(app, config, **options))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def fmt(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db-url", default="")
    parser.add_argument("--port", type=int, default=18_765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{Path(tmp) / 'report.db'}"
        engine = create_db_engine(url)
        migrate(engine)
        with engine.begin() as conn:
            account = create_account(conn, f"bench-{int(time.time())}", LimitsConfig())
            token = issue_token(conn, account, TokenKind.PERMANENT).access_token
        _start, end = fill(engine, account, args.rows, args.days)
        config = Config()
        with engine.begin() as conn:  # the benchmark must not hit the points limits
            update_account(conn, account, minute_limit=10**9, day_limit=10**9)
        day_start = datetime.fromtimestamp(end, UTC).replace(hour=0, minute=0, second=0)
        day_start -= timedelta(days=10)
        window = {"date_from": fmt(day_start.timestamp()), "date_till": fmt(
            (day_start + timedelta(days=1) - timedelta(seconds=1)).timestamp())}  # fmt: skip
        app = create_app(config, engine, extra_routes=dataapi_routes(config, engine))
        every_field = {"fields": list(CALLS_REPORT.fields)}
        cases: dict[str, tuple[str, dict[str, Any]]] = {
            "page 1 (limit 1000)": ("get.calls_report", {}),
            "offset 5000": ("get.calls_report", {"offset": 5000}),
            "filter+sort": ("get.calls_report", {
                "filter": {"field": "is_lost", "operator": "=", "value": False},
                "sort": [{"field": "talk_duration", "order": "desc"}],
            }),
            "every field (106)": ("get.calls_report", every_field),
            "legs page 1": ("get.call_legs_report", {}),
        }  # fmt: skip
        with (
            ThreadServer(app, config, args.port),
            httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=60) as http,
        ):
            for label, (method, extra) in cases.items():
                times: list[float] = []
                body: dict[str, Any] = {}
                for i in range(args.repeat + 1):
                    request = {
                        "jsonrpc": "2.0", "id": i, "method": method,
                        "params": {"access_token": token, "limit": 1000, **window, **extra},
                    }  # fmt: skip
                    t0 = time.perf_counter()
                    body = http.post(DATA_API_PATH, json=request).json()
                    if i:  # the first request warms caches
                        times.append(time.perf_counter() - t0)
                result = body["result"]
                times.sort()
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                print(
                    f"{engine.dialect.name} {label}: {len(result['data'])} rows of "
                    f"{result['metadata']['total_items']}; median "
                    f"{statistics.median(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
                )
        with engine.connect() as conn:
            prefix = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
            plan = conn.exec_driver_sql(
                f"{prefix} SELECT id FROM call_sessions WHERE account_id = {account} "
                f"AND created_at >= {day_start.timestamp()} AND created_at <= "
                f"{day_start.timestamp() + 86399} AND state = 'finished' "
                f"ORDER BY created_at, id LIMIT 1000"
            ).all()
        print("plan:", " | ".join(str(r[-1]) for r in plan))
        engine.dispose()


if __name__ == "__main__":
    main()
