"""The service hands the API whether spoken replies can be recognised here: ``collect_speech``
is taken with the ``speech`` extra installed (it is, in the test environment) and refused,
with ``vestnik.speech.unavailable_reason``'s words, when ``[speech] enabled = false``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.sessions import informer_call, provision, session
from vestnik.config import Config
from vestnik.service import Service
from vestnik.speech import unavailable_reason
from vestnik.store import create_db_engine

SPEECH = {"timeout": 4, "intents": {"yes": ["да"], "no": ["нет"]}}


async def _ask(tmp_path: Path, url: str, enabled: bool) -> tuple[dict[str, Any], Config]:
    config = Config(data_dir=str(tmp_path / "data"))
    config.database.url = url
    config.server.port = 0
    config.log.level = "warning"
    config.dialer.enabled = False  # API only: the session stays queued
    config.speech.enabled = enabled
    engine = create_db_engine(url)
    token = provision(engine)
    service = Service(config)
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
            body = informer_call(token, "79260000031", collect_speech=SPEECH)
            reply = (await http.post("/v4.0", json=body)).json()
    finally:
        await service.stop()
    if "result" in reply:
        row = session(engine, reply["result"]["data"]["call_session_id"])
        assert row["options"]["collect_speech"]["intents"] == SPEECH["intents"]
        assert (row["speech_reply"], row["speech_intent"]) == ("", None)
    engine.dispose()
    return reply, config


async def test_taken_with_the_extra(tmp_path: Path, sqlite_url: str) -> None:
    reply, config = await _ask(tmp_path, sqlite_url, enabled=True)
    assert unavailable_reason(config) is None
    assert "result" in reply, reply


async def test_refused_when_switched_off(tmp_path: Path, db_url: str) -> None:
    reply, config = await _ask(tmp_path, db_url, enabled=False)
    reason = unavailable_reason(config)
    assert reason == "spoken replies are switched off on this server ([speech] enabled = false)"
    error = reply["error"]
    assert (error["code"], error["message"]) == (-32602, "Invalid parameter value")
    data = error["data"]
    assert data["mnemonic"] == "invalid_parameter_value" and data["field"] == "collect_speech"
    assert data["value"] == SPEECH and data["params"] == {"reason": reason}
