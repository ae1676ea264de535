"""Several machines need nothing shared but the database: an audio file uploaded to node A
(its dialer off) is played in a real call by node B, whose data folder is empty.

Two ``vestnik serve`` processes with their own data folders on one database (PostgreSQL, the
several-machines deployment; SQLite too). The upload goes over HTTP to A, the
``start.informer_call`` too; B claims the session, renders the file from the database, caches
it in its own folder, and dials a SIPp callee whose RTP goes to a socket of the test: what it
hears is the stored audio, exactly as G.711 carries it.
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from sqlalchemy import Engine

from tests.support.audio_match import match_audio
from tests.support.processes import free_port, wait_until
from tests.support.rtp_receiver import RtpReceiver
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas
from tests.support.speech import speech
from vestnik.store import create_db_engine
from vestnik.store.media import get_media_file, stored_audio
from vestnik.telephony.rtp import g711

pytestmark = pytest.mark.sip

PT_PCMA = 8
TEXT = "Ваш заказ доставят завтра до шести часов вечера."


def _speech_wav() -> bytes:
    out = io.BytesIO()
    soundfile.write(out, speech(TEXT), 8000, format="WAV", subtype="PCM_16")
    return out.getvalue()


def test_a_file_uploaded_to_one_node_is_played_by_another(tmp_path: Path, db_url: str) -> None:
    engine: Engine = create_db_engine(db_url)
    token = provision(engine)
    receiver = RtpReceiver()
    media = {"media_ip": receiver.host, "media_port": receiver.port, "pt": 8, "codec": "PCMA"}
    sipp = SippUas.launch("uas_answer_set_media.xml", tmp_path / "sipp", variables=media)
    nodes: dict[str, ServeProcess] = {}
    try:
        for name, dialer in (("a", "false"), ("b", "true")):
            port = free_port()
            env = serve_env(
                tmp_path / name,
                db_url,
                sipp,
                port,
                free_port(),
                VESTNIK_DIALER_ENABLED=dialer,
                VESTNIK_DIALER_ID=f"node-{name}",
            )
            nodes[name] = ServeProcess(env, tmp_path / f"serve-{name}.log", port)
        for node in nodes.values():
            node.wait_ready()
        upload = httpx.post(
            nodes["a"].url + "/v4.0/media",
            data={"access_token": token, "name": "order"},
            files={"file": ("order.wav", _speech_wav(), "audio/wav")},
            timeout=30,
        )
        assert upload.status_code == 200, upload.text
        media_id = int(upload.json()["data"]["media_file_id"])
        with engine.connect() as conn:
            pcm_path = str(get_media_file(conn, media_id)["pcm_path"])
            stored = stored_audio(conn, media_id)
        assert stored is not None
        on_a, on_b = (tmp_path / n / "data" / pcm_path for n in ("a", "b"))
        assert on_a.read_bytes() == stored  # A's cache, written at the upload
        assert not on_b.exists()

        message = {"type": "media", "value": str(media_id)}
        body = informer_call(token, "79260000701", contact_message=message)
        reply = httpx.post(nodes["a"].url + "/v4.0", json=body, timeout=10).json()
        sid = int(reply["result"]["data"]["call_session_id"])
        wait_until(lambda: session(engine, sid)["state"] == "finished", 30, "the call to end")
        row = session(engine, sid)
        assert row["finish_reason"] == "success_finish", row
        assert sipp.wait(15) == 0, sipp.log()
        receiver.wait_quiet(0.2, 2)
        for node in nodes.values():
            assert node.terminate() == 0
    finally:
        for node in nodes.values():
            node.cleanup()
        sipp.stop()
        receiver.close()
    assert str(row["lease_owner"]).split("/")[0] == "node-b", row
    assert on_b.read_bytes() == stored  # B's cache file, from the database
    heard = receiver.audio(PT_PCMA)
    sent = np.frombuffer(stored, dtype="<i2")
    result = match_audio(sent, heard)
    assert result.passed, result.summary()
    expected = g711.alaw_decode(g711.alaw_encode(sent))
    start = result.initial_delay
    assert np.array_equal(heard[start : start + expected.size], expected)
    engine.dispose()
