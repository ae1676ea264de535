"""``detect_machine`` through the whole service: a client's ``start.informer_call`` asks for it,
the dialer turns the session's options into ``DialSpec.listen``, a SIPp callee answers with a
voicemail greeting and a beep (or a short "Алло?"), and the verdict reaches the session, its
attempt, ``call_finished`` and the Data API. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.amd_audio import callee_answer, callee_pcap
from tests.support.dialer import SHORT, trunk_config
from tests.support.processes import async_wait_until
from tests.support.sessions import event_payloads, informer_call, provision, session
from tests.support.sipp import SippUas, requires_sipp
from vestnik.service import Service
from vestnik.store import create_db_engine

pytestmark = [requires_sipp, pytest.mark.sip]

STAMP = "%Y-%m-%d %H:%M:%S"


@pytest.mark.parametrize("kind", ["machine", "human"])
async def test_detect_machine_reaches_the_session_events_and_report(
    tmp_path: Path, db_url: str, kind: str
) -> None:
    engine = create_db_engine(db_url)
    token = provision(engine)
    audio, _beep_end = callee_answer(kind)
    pcap = callee_pcap(tmp_path / "callee.pcap", audio)
    template = {"pcap": pcap, "pts": "8", "events": "a=sendrecv"}
    sipp = SippUas.launch("uas_answer_play.xml", tmp_path / "sipp", template=template, timeout=60)
    try:
        service = Service(trunk_config(tmp_path, db_url, sipp))
        await service.start()
        try:
            base = f"http://127.0.0.1:{service.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                body = informer_call(token, "79260001031", SHORT, detect_machine=True)
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
                    "fields": ["id", "answered_by", "dtmf_reply", "attempts"],
                }}  # fmt: skip
                rows = (await http.post("/dataapi/v2.0", json=report)).json()["result"]["data"]
        finally:
            await service.stop()
    finally:
        sipp.stop()
    row = session(engine, sid)
    assert (row["finish_reason"], row["answered_by"], row["dtmf_reply"]) == (
        "success_finish", kind, None,
    ), row  # fmt: skip
    assert [a["answered_by"] for a in row["attempt_log"]] == [kind]
    assert (row["speech_reply"], row["speech_intent"]) == (None, None)  # not asked
    finished = event_payloads(engine, sid)[-1]
    assert finished["notification_mnemonic"] == "call_finished"
    assert (finished["answered_by"], finished["attempts"]) == (kind, 1)
    assert rows == [{"id": sid, "answered_by": kind, "dtmf_reply": None, "attempts": 1}]
    engine.dispose()
