"""Real HTTP webhook receivers (uvicorn + Starlette on loopback) and database helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import uvicorn
from sqlalchemy import Connection, Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vestnik.calls.events import EventType
from vestnik.calls.session import CallSession
from vestnik.config import Config, LimitsConfig
from vestnik.events.signing import HEADER_EVENT_ID, verify
from vestnik.store.accounts import create_account
from vestnik.store.outbox import record_event
from vestnik.store.schema import call_sessions, webhook_deliveries
from vestnik.store.sessions import get_session

SECRET = "test-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def down_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/hook"


def worker_config(**webhooks: Any) -> Config:
    config = Config()
    config.webhooks.timeout_seconds = 1.0
    config.webhooks.backoff_base_seconds = 0.05
    config.webhooks.backoff_max_seconds = 0.2
    config.webhooks.retry_horizon_seconds = 60.0
    config.webhooks.poll_interval_seconds = 0.02
    for key, value in webhooks.items():
        setattr(config.webhooks, key, value)
    return config


@dataclass
class Received:
    at: float
    event_id: int
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    signature_ok: bool
    status: int  # what the receiver answered


@dataclass
class Receiver:
    """Records every request; ``behaviour(n)`` → status (or None to hang) for request n."""

    secret: str = SECRET
    behaviour: Callable[[int], int | None] = lambda _n: 200
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def delivered_ids(self) -> set[int]:
        return {r.event_id for r in self.delivered()}

    async def _hook(self, request: Request) -> Response:
        raw = await request.body()
        n = len(self.requests)
        status = self.behaviour(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        record = Received(
            at=time.time(),
            event_id=int(request.headers.get(HEADER_EVENT_ID, "0")),
            body=body,
            raw=raw,
            headers=dict(request.headers),
            signature_ok=verify(self.secret, request.headers, raw),
            status=status if status is not None else 0,
        )
        self.requests.append(record)
        if status is None:  # hang until the receiver stops: the sender must time out
            await self._stopping.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        return Response(b"ok", status_code=status or 200)

    async def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            access_log=False,
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._stopping.set()
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5)


@contextlib.asynccontextmanager
async def running(*receivers: Receiver) -> AsyncIterator[None]:
    for r in receivers:
        await r.start()
    try:
        yield
    finally:
        for r in receivers:
            await r.stop()


def make_account(conn: Connection, name: str = "acme") -> int:
    return create_account(conn, name, LimitsConfig())


def make_session(conn: Connection, account_id: int, **values: Any) -> dict[str, Any]:
    """Insert a call_sessions row (finished by default) and return it as a dict."""
    t = values.pop("created_at", time.time())
    row: dict[str, Any] = {
        "account_id": account_id,
        "source": "callapi_informer_call",
        "request_id": '"req-1"',
        "external_id": "ext-1",
        "virtual_phone_number": "74993720692",
        "usage_rule": "fixed",
        "caller_number": "74993720692",
        "contact": "79260000001",
        "contact_kind": "phone",
        "contact_region": "Москва",
        "direction": "out",
        "dialing_timeout": 30.0,
        "message_type": "tts",
        "message_value": "Здравствуйте",
        "state": "finished",
        "finish_reason": "success_finish",
        "sip_code": 200,
        "sip_reason": "OK",
        "created_at": t,
        "dial_at": t + 0.01,
        "answer_at": t + 3.0,
        "end_at": t + 10.0,
        "release_requested": False,
        "dial_attempts": 1,
    }
    row.update(values)
    session_id = conn.execute(call_sessions.insert().values(**row)).inserted_primary_key[0]
    return {**row, "id": int(session_id)}


def make_call_session(conn: Connection, account_id: int, **values: Any) -> CallSession:
    """``make_session``, read back as the store hands sessions to the dialer and the outbox."""
    stored = get_session(conn, make_session(conn, account_id, **values)["id"])
    assert stored is not None
    return CallSession.from_row(stored)


ALL_EVENTS = "call_started,call_answered,call_finished"


def record_call(engine: Engine, account_id: int, n_sessions: int, **session: Any) -> list[int]:
    """Sessions with the three events each, each event in its own transaction."""
    ids: list[int] = []
    with engine.begin() as conn:
        rows = [make_call_session(conn, account_id, **session) for _ in range(n_sessions)]
    for event_type in (EventType.CALL_STARTED, EventType.CALL_ANSWERED, EventType.CALL_FINISHED):
        for row in rows:
            with engine.begin() as conn:
                ids.append(record_event(conn, row, event_type, row.created_at + 1))
    return ids


def delivery_states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(webhook_deliveries.c.state, sa.func.count()).group_by(
                webhook_deliveries.c.state
            )
        ).all()
    return {state: count for state, count in rows}
