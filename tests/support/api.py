"""The API under test: a real uvicorn server on loopback (in a thread) over a migrated database
with one account, and a client for it (``Api``)."""

from __future__ import annotations

import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import soundfile
import sqlalchemy as sa
import uvicorn
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from vestnik.api import create_app
from vestnik.api.server import uvicorn_config
from vestnik.auth import TokenKind
from vestnik.config import Config, LimitsConfig
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account, update_account
from vestnik.store.admin_numbers import add_number
from vestnik.store.admin_users import create_user, issue_token
from vestnik.store.schema import call_sessions, limit_counters, virtual_numbers

VPN = "74993720692"  # Moscow, the account's main virtual number
VPN_KAZAN = "78432000001"  # Республика Татарстан
VPN_SPB = "78122000001"  # Санкт-Петербург
CONTACT = "79260000000"  # a Russian mobile number
CONTACT_MOSCOW = "74991234567"
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread, configured as the service
    configures it (``vestnik.api.server.uvicorn_config``)."""

    def __init__(self, app: Any, config: Config) -> None:
        self.port = free_port()
        options = uvicorn_config(
            app, config, host="127.0.0.1", port=self.port, log_level="warning",
            lifespan="on",  # the app's endpoints release their connections at exit
            loop="asyncio",  # uvloop would set a process-wide event loop policy
        )  # fmt: skip
        self.server = uvicorn.Server(options)
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
    token: str

    def create_user(self, login: str | None = None) -> str:
        """A user of this account (Argon2 hashing is slow: only tests of login make one)."""
        login = login or f"alice-{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as conn:
            create_user(conn, self.account_id, login, PASSWORD)
        return login

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
        params = {k: v for k, v in params.items() if v != _DROP}
        return self.rpc("start.informer_call", params)

    def post(self, content: bytes, content_type: str | None = "application/json") -> Any:
        headers = {"content-type": content_type} if content_type else {}
        return self.http.post("/v4.0", content=content, headers=headers)

    def update_account(self, **values: Any) -> None:
        with self.engine.begin() as conn:
            update_account(conn, self.account_id, **values)

    def sessions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(call_sessions)
                .where(call_sessions.c.account_id == self.account_id)
                .order_by(call_sessions.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def charged(self) -> int:
        with self.engine.connect() as conn:
            used = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(limit_counters.c.used), 0)).where(
                    limit_counters.c.account_id == self.account_id
                )
            ).scalar()
            return int(used or 0)


# A marker value (a string, so it survives the module being imported twice).
_DROP = "<drop this parameter>"
DROP: Any = _DROP


def error_of(reply: dict[str, Any]) -> tuple[int, str]:
    assert "error" in reply, reply
    return reply["error"]["code"], reply["error"]["data"]["mnemonic"]


def seed_account(engine: Engine) -> tuple[int, str]:
    """A fresh account (own API key, virtual number VPN); VPN is released by older accounts."""
    with engine.begin() as conn:
        conn.execute(virtual_numbers.delete().where(virtual_numbers.c.number == VPN))
        account_id = create_account(conn, f"acme-{uuid.uuid4().hex[:12]}", LimitsConfig())
        key = issue_token(conn, account_id, TokenKind.PERMANENT)
        add_number(conn, account_id, VPN, None)
    return account_id, key.access_token


@contextmanager
def serve(
    engine: Engine, config: Config, extra_routes: Sequence[BaseRoute] = ()
) -> Iterator[tuple[str, httpx.Client]]:
    """``create_app`` (plus ``extra_routes``) served on loopback, with a client for it."""
    app = create_app(config, engine, extra_routes=extra_routes)
    with ThreadServer(app, config) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield server.url, http


def make_api(
    db_url: str, config: Config | None = None, *, engine: Engine | None = None
) -> Iterator[Api]:
    """A server of its own (for tests that change the server's config), on ``engine`` when
    given (it is disposed of at the end too)."""
    config = config or Config()
    engine = engine or create_db_engine(db_url)
    account_id, token = seed_account(engine)
    with serve(engine, config) as (url, http):
        yield Api(url, http, engine, config, account_id, token)
    engine.dispose()


def wav_bytes(seconds: float = 1.5, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    out = io.BytesIO()
    soundfile.write(out, tone, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()
