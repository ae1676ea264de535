"""Webhook delivery: throughput from one process, and lag under a steady event rate.

    .venv/bin/python bench/webhook_delivery.py [--events 5000] [--rate 200] [--seconds 10]
                                               [--db-url URL]

A receiver process (uvicorn, a bare ASGI app answering 204) listens on loopback; this process
runs one ``WebhookWorker``. Phase 1 records ``--events`` call_finished events up front and
times how long the worker takes to deliver them all (deliveries/s). Phase 2 records events at
``--rate`` per second for ``--seconds`` while the worker runs, and reports the delivery lag
(endpoint's 2xx answer minus the event's creation time) at p50/p99/max. The default database
is a fresh SQLite file; ``--db-url`` takes an empty PostgreSQL database (it is migrated).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from vestnik.calls.events import EventType
from vestnik.calls.session import CallSession
from vestnik.config import Config, LimitsConfig
from vestnik.events.delivery import WebhookWorker
from vestnik.events.webhooks import add_webhook
from vestnik.store import create_db_engine, migrate
from vestnik.store.accounts import create_account
from vestnik.store.outbox import record_event
from vestnik.store.schema import call_events, call_sessions, webhook_deliveries

RECEIVER = """
import sys
count = 0
async def app(scope, receive, send):
    global count
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/count":
        body = str(count).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    count += 1
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_receiver(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    (workdir / "receiver_app.py").write_text(RECEIVER)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "receiver_app:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log", "--no-proxy-headers"],
        cwd=workdir,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/count", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("receiver did not start")


def make_sessions(engine: sa.Engine, account_id: int, n: int) -> list[CallSession]:
    t = time.time()
    rows = [
        {
            "account_id": account_id, "source": "callapi_informer_call", "request_id": f'"{i}"',
            "external_id": f"ext-{i}", "virtual_phone_number": "74993720692",
            "usage_rule": "fixed", "caller_number": "74993720692", "contact": "79260000001",
            "contact_kind": "phone", "direction": "out", "dialing_timeout": 30.0,
            "message_type": "tts", "message_value": "x", "state": "finished",
            "finish_reason": "success_finish", "created_at": t, "dial_at": t, "answer_at": t,
            "end_at": t, "release_requested": False, "dial_attempts": 1,
        }
        for i in range(n)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(call_sessions.insert(), rows)
        got = conn.execute(
            sa.select(call_sessions).where(call_sessions.c.account_id == account_id)
        ).mappings()
        return [CallSession.from_row(r) for r in got]


def record_one(engine: sa.Engine, session: CallSession) -> None:
    with engine.begin() as conn:
        record_event(conn, session, EventType.CALL_FINISHED, time.time())


def delivered(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(webhook_deliveries.c.state == "delivered")
            ).scalar_one()
        )


async def run(args: argparse.Namespace, workdir: Path) -> None:
    url = args.db_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    receiver, base = start_receiver(workdir)
    config = Config()
    config.webhooks.concurrency = args.concurrency
    config.webhooks.per_endpoint_concurrency = args.per_endpoint
    try:
        with engine.begin() as conn:
            account = create_account(conn, f"bench-{os.getpid()}", LimitsConfig())
            add_webhook(conn, account, base + "/hook", "call_finished", "bench-secret-0123456789")
        sessions = make_sessions(engine, account, args.events + int(args.rate * args.seconds))
        backlog, steady = sessions[: args.events], sessions[args.events :]
        with engine.begin() as conn:
            for s in backlog:
                record_event(conn, s, EventType.CALL_FINISHED, time.time())

        worker = WebhookWorker(config, engine)
        task = asyncio.create_task(worker.run())
        t0 = time.perf_counter()
        while await asyncio.to_thread(delivered, engine) < args.events:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        print(f"backlog: {args.events} deliveries in {elapsed:.2f} s "
              f"= {args.events / elapsed:.0f} deliveries/s "
              f"(concurrency {args.concurrency}, per endpoint {args.per_endpoint})")  # fmt: skip

        # Steady rate: one event per transaction, as the dialer writes them.
        interval = 1.0 / args.rate
        start = time.perf_counter()
        for i, s in enumerate(steady):
            target = start + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # In a thread, as another component would: never on the worker's event loop.
            await asyncio.to_thread(record_one, engine, s)
            worker.notify()
        total = args.events + len(steady)
        deadline = time.monotonic() + 60
        while await asyncio.to_thread(delivered, engine) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await worker.stop()
        await task
        with engine.connect() as conn:
            lags = [
                float(r[0])
                for r in conn.execute(
                    sa.select(webhook_deliveries.c.delivered_at - call_events.c.created_at)
                    .join(call_events, call_events.c.id == webhook_deliveries.c.event_id)
                    .where(
                        webhook_deliveries.c.state == "delivered",
                        call_events.c.call_session_id.in_([s.id for s in steady]),
                    )
                )
            ]
        lags.sort()
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan")
        print(f"steady {args.rate}/s for {args.seconds:g} s: {len(lags)}/{len(steady)} delivered; "
              f"lag p50 {statistics.median(lags) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
              f"max {lags[-1] * 1000:.0f} ms")  # fmt: skip
        received = int(httpx.get(base + "/count", timeout=5).text)
        print(f"receiver counted {received} requests for {total} events "
              f"({received - total} duplicates)")  # fmt: skip
    finally:
        receiver.terminate()
        receiver.wait(10)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--per-endpoint", type=int, default=8)
    parser.add_argument("--db-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
