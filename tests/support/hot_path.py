"""Requests straight into the Call API's endpoint, for a process of its own (``spawn``): the
points test of the PostgreSQL hot path runs several such processes on one database."""

from __future__ import annotations

import asyncio

from vestnik.api.access import Exchange
from vestnik.api.app import CALL_API_METHODS
from vestnik.api.jsonrpc import JsonRpcEndpoint
from vestnik.config import Config
from vestnik.store import create_db_engine

CONTACT = "79260000000"


def informer_request(token: str, vpn: str, n: int) -> dict[str, object]:
    return {
        "jsonrpc": "2.0", "id": n, "method": "start.informer_call",
        "params": {
            "access_token": token, "virtual_phone_number": vpn, "contact": CONTACT,
            "contact_message": {"type": "tts", "value": "Тестовое сообщение"},
        },
    }  # fmt: skip


def run_requests(url: str, db_calls: str, token: str, vpn: str, count: int) -> list[str]:
    """``count`` start.informer_call at once on an endpoint of this process: each reply's
    mnemonic, or "ok" with the session id."""
    config = Config()
    config.server.db_calls = db_calls
    engine = create_db_engine(url, timeout=config.database.timeout)
    endpoint = JsonRpcEndpoint(CALL_API_METHODS, config, engine)

    async def one(n: int) -> str:
        reply = await endpoint.dispatch(informer_request(token, vpn, n), Exchange("/v4.0", None))
        if "error" in reply:
            return str(reply["error"]["data"]["mnemonic"])
        return f"ok {reply['result']['data']['call_session_id']}"

    async def all_at_once() -> list[str]:
        return list(await asyncio.gather(*(one(n) for n in range(count))))

    try:
        return asyncio.run(all_at_once())
    finally:
        endpoint.close()
        engine.dispose()
