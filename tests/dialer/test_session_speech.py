"""``collect_speech`` through the whole service: a client's ``start.informer_call`` asks for a
spoken reply, the dialer turns the session's options into ``DialSpec.listen``, a SIPp callee
answers and says festival's "да" or "нет" (``tests.support.voice``) after the message, the real
Whisper recogniser hears it, and the reply and its intent reach the session, ``call_finished``
and the Data API's report. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.dialer import SHORT, trunk_config
from tests.support.listen_calls import callee
from tests.support.processes import async_wait_until
from tests.support.sessions import event_payloads, informer_call, provision, session
from tests.support.sipp import requires_sipp
from tests.support.voice import said
from vestnik.service import Service
from vestnik.store import create_db_engine

pytestmark = [requires_sipp, pytest.mark.sip]

STAMP = "%Y-%m-%d %H:%M:%S"
SPEECH = {"timeout": 10, "language": "ru", "intents": {"yes": ["да", "подтверждаю"],
                                                       "no": ["нет", "отмена"]}}  # fmt: skip


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every service of the session joins the model (once)."""
    return tmp_path_factory.mktemp("speech-model")


@pytest.mark.parametrize(("text", "intent"), [("да", "yes"), ("нет", "no"), (None, None)])
async def test_a_spoken_reply_reaches_the_session_events_and_report(
    tmp_path: Path, db_url: str, model_dir: Path, text: str | None, intent: str | None
) -> None:
    """A reply of "да" or "нет", or silence (nothing said within the timeout: "", no intent)."""
    engine = create_db_engine(db_url)
    token = provision(engine)
    # The reply 4 s after the answer: after a short message (or over a longer one, from
    # barge_in_after_ms on: then it cuts it); within the 10 s timeout either way.
    say = [] if text is None else [(4.0, said(text))]
    sipp = callee(tmp_path / "sipp", [], seconds=16.0 if text is None else 10.0, say=say)
    try:
        config = trunk_config(tmp_path, db_url, sipp)
        config.speech.model_dir = str(model_dir)
        service = Service(config)
        await service.start()
        try:
            base = f"http://127.0.0.1:{service.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                body = informer_call(token, "79260001031", SHORT, collect_speech=SPEECH)
                reply = (await http.post("/v4.0", json=body)).json()
                sid = int(reply["result"]["data"]["call_session_id"])
                await async_wait_until(
                    lambda: session(engine, sid)["state"] == "finished", 40, "the call to end"
                )
                day = datetime.now(UTC)
                report = {"jsonrpc": "2.0", "id": 2, "method": "get.calls_report", "params": {
                    "access_token": token,
                    "date_from": (day - timedelta(days=1)).strftime(STAMP),
                    "date_till": (day + timedelta(days=1)).strftime(STAMP),
                    "fields": ["id", "speech_reply", "speech_intent", "dtmf_reply", "attempts"],
                }}  # fmt: skip
                rows = (await http.post("/dataapi/v2.0", json=report)).json()["result"]["data"]
        finally:
            await service.stop()
    finally:
        sipp.stop()
    row = session(engine, sid)
    assert (row["finish_reason"], row["speech_intent"], row["dtmf_reply"]) == (
        "success_finish", intent, None,
    ), row  # fmt: skip
    heard = row["speech_reply"]
    assert heard == "" if text is None else text in heard.lower(), heard
    assert [(a["speech_reply"], a["speech_intent"]) for a in row["attempt_log"]] == [
        (heard, intent)
    ]
    finished = event_payloads(engine, sid)[-1]
    assert finished["notification_mnemonic"] == "call_finished"
    assert (finished["speech_reply"], finished["speech_intent"]) == (heard, intent)
    assert rows == [{"id": sid, "speech_reply": heard, "speech_intent": intent,
                     "dtmf_reply": None, "attempts": 1}]  # fmt: skip
    engine.dispose()
