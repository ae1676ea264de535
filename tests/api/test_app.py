"""create_app: the callback for a queued session (the service passes the dialer's wake)."""

from __future__ import annotations

import threading

import httpx

from tests.support.api import CONTACT, VPN, ThreadServer, seed_account
from vestnik.api import create_app
from vestnik.config import Config
from vestnik.store import create_db_engine


def test_on_session_queued_runs_after_each_queued_session_only(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    _account_id, token = seed_account(engine)
    queued: list[str] = []

    def on_session_queued() -> None:
        queued.append(threading.current_thread().name)
        if len(queued) == 2:
            raise RuntimeError("a failing callback changes no reply")

    config = Config()
    app = create_app(config, engine, on_session_queued=on_session_queued)
    start = {
        "access_token": token, "virtual_phone_number": VPN, "contact": CONTACT,
        "contact_message": {"type": "tts", "value": "Ваш заказ готов"},
    }  # fmt: skip
    with ThreadServer(app, config) as server, httpx.Client(base_url=server.url) as http:

        def rpc(method: str, params: dict[str, object]) -> dict[str, object]:
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            return dict(http.post("/v4.0", json=body).json())

        assert "result" in rpc("start.informer_call", start)
        assert "result" in rpc("start.informer_call", start)
        assert "result" in rpc("list.calls", {"access_token": token})
        assert "error" in rpc("start.informer_call", {**start, "contact": VPN})  # refused
        assert "error" in rpc("start.informer_call", {**start, "access_token": "nobody"})
    assert len(queued) == 2
    engine.dispose()
