"""A real uvicorn server on loopback (in a thread) over a migrated database with one account."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy import Engine

from vestnik.api import create_app
from vestnik.auth import TokenKind
from vestnik.config import Config, LimitsConfig
from vestnik.store import create_db_engine
from vestnik.store.accounts import (
    add_number,
    create_account,
    create_user,
    issue_token,
    update_account,
)
from vestnik.store.schema import call_sessions, limit_counters

VPN = "74993720692"  # Moscow, the account's main virtual number
VPN_KAZAN = "78432000001"  # Республика Татарстан
VPN_SPB = "78122000001"  # Санкт-Петербург
CONTACT = "79260000000"  # a Russian mobile number
CONTACT_MOSCOW = "74951234567"
LOGIN, PASSWORD = "alice", "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Api:
    """The server, its database and the test account (id, API key, login)."""

    url: str
    http: httpx.Client
    engine: Engine
    config: Config
    account_id: int
    user_id: int
    token: str
    ids: list[int] = field(default_factory=list)

    def rpc(self, method: str, params: dict[str, Any], id: Any = "req1") -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": id, "method": method, "params": params}
        response = self.http.post("/v4.0", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def start(self, **overrides: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "access_token": self.token,
            "virtual_phone_number": VPN,
            "contact": CONTACT,
            "contact_message": {"type": "tts", "value": "Тестовое сообщение"},
        }
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not _DROP}
        return self.rpc("start.informer_call", params)

    def post(self, content: bytes, content_type: str | None = "application/json") -> Any:
        headers = {"content-type": content_type} if content_type else {}
        return self.http.post("/v4.0", content=content, headers=headers)

    def update_account(self, **values: Any) -> None:
        with self.engine.begin() as conn:
            update_account(conn, self.account_id, **values)

    def sessions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(call_sessions).order_by(call_sessions.c.id))
            return [dict(r._mapping) for r in rows]

    def charged(self) -> int:
        with self.engine.connect() as conn:
            used = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(limit_counters.c.used), 0))
            ).scalar()
            return int(used or 0)


_DROP = object()
DROP: Any = _DROP


def error_of(reply: dict[str, Any]) -> tuple[int, str]:
    assert "error" in reply, reply
    return reply["error"]["code"], reply["error"]["data"]["mnemonic"]


def make_api(db_url: str, config: Config | None = None) -> Iterator[Api]:
    config = config or Config()
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        account_id = create_account(conn, "acme", LimitsConfig())
        user_id = create_user(conn, account_id, LOGIN, PASSWORD)
        key = issue_token(conn, account_id, TokenKind.PERMANENT, user_id=user_id)
        add_number(conn, account_id, VPN, None)
    app = create_app(config, engine)
    with ThreadServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield Api(server.url, http, engine, config, account_id, user_id, key.access_token)
    engine.dispose()


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from make_api(db_url)


@pytest.fixture
def sqlite_api(sqlite_url: str) -> Iterator[Api]:
    yield from make_api(sqlite_url)
