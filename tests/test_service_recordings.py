"""``record: true`` through the whole service: a session that asks for a recording is dialled
by the dialer to a SIPp callee playing known audio, the recording is stored, listed by
``get.calls_report`` and downloaded over HTTP with the account's key — and what comes down is
what the callee sent, frame by frame. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
import sqlalchemy as sa

from tests.support.dialer import MEDIUM, trunk_config
from tests.support.processes import async_wait_until
from tests.support.recorded_audio import assert_callee_frames, playing_callee, sox_alaw, sweep
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import requires_sipp
from vestnik.calls.audio import SAMPLE_RATE
from vestnik.service import Service
from vestnik.store import create_db_engine
from vestnik.store.recordings import find_recording, session_recordings
from vestnik.store.schema import accounts

pytestmark = [requires_sipp, pytest.mark.sip]

STAMP = "%Y-%m-%d %H:%M:%S"


async def test_recorded_call_is_listed_and_downloaded(tmp_path: Path, db_url: str) -> None:
    engine = create_db_engine(db_url)
    token = provision(engine)
    with engine.connect() as conn:
        account_id = int(conn.execute(sa.select(accounts.c.id)).scalar_one())
    encoded, sent = sox_alaw(sweep(1.2, 250, 3300, 9000), tmp_path)
    sipp = playing_callee(tmp_path / "sipp", encoded)
    service = Service(trunk_config(tmp_path, db_url, sipp))
    try:
        await service.start()
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            # As a client asks for it: the request's own `record` (vestnik's extension).
            body = informer_call(token, "79161234567", MEDIUM, record=True)
            sid = int(
                (await http.post("/v4.0", json=body)).json()["result"]["data"]["call_session_id"]
            )
        await async_wait_until(
            lambda: session(engine, sid)["state"] == "finished", 40, "the session to finish"
        )
        row = session(engine, sid)
        assert row["finish_reason"] == "success_finish", row
        with engine.connect() as conn:
            listed = session_recordings(conn, sid)
            stored = find_recording(conn, sid)
        assert [(r["attempt"], r["account_id"]) for r in listed] == [(1, account_id)]
        assert stored is not None
        rid = int(stored["id"])
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            day = datetime.now(UTC)
            body = {"jsonrpc": "2.0", "id": 1, "method": "get.calls_report", "params": {
                "access_token": token,
                "date_from": (day - timedelta(days=1)).strftime(STAMP),
                "date_till": (day + timedelta(days=1)).strftime(STAMP),
                "fields": ["id", "call_records", "wav_call_records", "full_record_file_link"],
            }}  # fmt: skip
            reply = (await http.post("/dataapi/v2.0", json=body)).json()
            link = f"/system/media/talk/{sid}/{rid}/"
            assert reply["result"]["data"] == [{
                "id": sid, "call_records": [str(rid)], "wav_call_records": [str(rid)],
                "full_record_file_link": link,
            }]  # fmt: skip
            download = await http.get(link, headers={"Authorization": f"Bearer {token}"})
            refused = await http.get(link)
    finally:
        await service.stop()
        sipp.stop()
        engine.dispose()

    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "audio/wav"
    assert download.content == bytes(stored["wav"])
    assert refused.status_code == 401
    data, rate = soundfile.read(io.BytesIO(download.content), dtype="int16")
    assert rate == SAMPLE_RATE and data.shape[1] == 2
    assert_callee_frames(data[:, 0].copy(), sent)
    # Channel 2 is the spoken message: sound for most of its length, not silence.
    ours = data[:, 1].astype(np.float64)
    frames = ours[: len(ours) // 160 * 160].reshape(-1, 160)
    loud = (np.sqrt((frames**2).mean(axis=1)) > 100).sum() * 0.02
    assert loud > 1.5, f"only {loud:.2f} s of our message on channel 2"
