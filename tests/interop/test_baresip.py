"""vestnik calls baresip through Kamailio: the callee hears exactly what vestnik rendered.

The path is the product's: ``AudioRenderer`` renders the message (TTS, or an uploaded file
converted by ``import_media_file``), ``SipTelephony`` dials the trunk (Kamailio answers the
INVITE with 407, vestnik retries with digest credentials, Kamailio record-routes and relays),
baresip auto-answers with the codec its account allows, and its ``sndfile`` filter writes the
decoded audio it received. That WAV must match the rendered audio frame by frame
(design.md's check), and baresip's DTMF events must show the digits in order with the pause.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile
import sqlalchemy as sa

from tests.support.audio_match import match_audio, read_wav_8k
from tests.support.peers import Baresip, Kamailio
from tests.support.processes import free_port_range
from tests.support.speech import speech
from vestnik.calls import ContactKind, FinishReason, MessageType
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallResult, DialSpec, MessageSpec
from vestnik.config import Config, LimitsConfig
from vestnik.media.audiofile import import_media_file
from vestnik.media.render import AudioRenderer
from vestnik.store import create_db_engine, migrate
from vestnik.store.accounts import create_account
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = pytest.mark.sip

TRUNK_USER = "vestnik"
TRUNK_PASSWORD = "Tr0nk-pass"
CALLER = "74993720692"
# One baresip account per codec: each answers with only that codec.
CALLEE_BY_CODEC = {"PCMA": "79161230001", "PCMU": "79161230002"}
TTS_TEXT = "Здравствуйте! Ваш заказ номер 42 готов к выдаче до 18:30. Спасибо."
UPLOAD_TEXT = "Добрый день. Напоминаем о записи к врачу завтра в девять утра."
DTMF = "1.2#"


@dataclass
class Rig:
    callee: Baresip
    trunk: Kamailio
    engine: sa.Engine
    account_id: int
    media_id: int
    data_dir: Path


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("interop")
    data_dir = root / "data"
    data_dir.mkdir()
    engine = create_db_engine(f"sqlite:///{data_dir / 'vestnik.db'}")
    migrate(engine)
    # An "uploaded" file as a user would have it: 44.1 kHz stereo WAV, converted on import.
    upload = root / "reminder.wav"
    voice = speech(UPLOAD_TEXT).astype(np.float64) / 32768
    import soxr

    hi_fi = soxr.resample(voice, 8000, 44100)
    soundfile.write(upload, np.stack([hi_fi, hi_fi * 0.5], axis=1), 44100, subtype="PCM_16")
    with engine.begin() as conn:
        account_id = create_account(conn, "interop", LimitsConfig())
        media_id = import_media_file(conn, account_id, upload, "reminder", data_dir)
    users = {user: [codec] for codec, user in CALLEE_BY_CODEC.items()}
    with (
        Baresip(users, workdir=root / "baresip") as callee,
        Kamailio(callee.address, {TRUNK_USER: TRUNK_PASSWORD}, workdir=root / "kamailio") as trunk,
    ):
        yield Rig(callee, trunk, engine, account_id, media_id, data_dir)
    engine.dispose()


@dataclass
class Observer:
    seen: list[tuple[str, float]] = field(default_factory=list)

    def on_dialing(self, sip_call_id: str) -> None:
        self.seen.append(("dialing", time.time()))

    def on_ringing(self) -> None:
        self.seen.append(("ringing", time.time()))

    def on_answered(self) -> None:
        self.seen.append(("answered", time.time()))


def vestnik_config(rig: Rig) -> Config:
    config = Config(data_dir=str(rig.data_dir))
    config.log.level = "warning"
    config.sip.port = 0
    config.rtp.port_min, config.rtp.port_max = free_port_range(20)
    config.trunk.host, config.trunk.port = rig.trunk.address
    config.trunk.username, config.trunk.password = TRUNK_USER, TRUNK_PASSWORD
    config.trunk.codecs = ["PCMA", "PCMU"]
    return config


async def call_baresip(rig: Rig, message: MessageSpec, codec: str) -> tuple[CallResult, Pcm]:
    config = vestnik_config(rig)
    renderer = AudioRenderer(config, rig.engine)
    telephony = SipTelephony(config)
    await telephony.start()
    try:
        audio = await renderer.render(message)
        dial = DialSpec(
            session_id=1,
            caller=CALLER,
            contact=CALLEE_BY_CODEC[codec],
            contact_kind=ContactKind.PHONE,
            dialing_timeout=10.0,
            dtmf=DTMF,
        )
        observer = Observer()

        async def ready() -> Pcm:
            return audio

        handle = telephony.place_call(dial, ready(), observer)
        result = await asyncio.wait_for(handle.result(), 60)
        assert [name for name, _ in observer.seen][-1] == "answered", observer.seen
        return result, audio
    finally:
        await telephony.stop()


@pytest.mark.parametrize("codec", ["PCMA", "PCMU"])
@pytest.mark.parametrize("kind", ["tts", "upload"])
async def test_baresip_hears_the_rendered_message(rig: Rig, kind: str, codec: str) -> None:
    if kind == "tts":
        message = MessageSpec(MessageType.TTS, TTS_TEXT, rig.account_id)
    else:
        message = MessageSpec(MessageType.MEDIA, str(rig.media_id), rig.account_id)
    # baresip names recordings by the second: keep calls in different seconds.
    await asyncio.sleep(1.1)
    started = time.time()
    result, audio = await call_baresip(rig, message, codec)

    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert result.sip_code == 200
    callee = rig.callee
    established = callee.wait_event("CALL_ESTABLISHED", after=started)
    closed = callee.wait_event("CALL_CLOSED", after=started)
    assert CALLEE_BY_CODEC[codec] in established.account
    log = callee.log()
    assert f"Set audio decoder: {codec} 8000Hz" in log

    # DTMF: RFC 4733 events, in order, the "." a one-second pause.
    digits = callee.events_of("CALL_DTMF_START", after=started, until=closed.at)
    assert [d.param for d in digits] == ["1", "2", "#"], digits
    assert digits[1].at - digits[0].at >= 0.95
    assert digits[2].at - digits[1].at < 0.9

    recording = read_wav_8k(callee.recording_for(established))
    match = match_audio(audio, recording)
    print(f"{kind}/{codec}: {match.summary()}")
    assert match.passed, f"{kind}/{codec}: {match.summary()}"
    # The message starts after the digits, not before.
    assert match.initial_delay / 8000 > 1.0


async def test_wrong_trunk_password_is_refused_and_reported(rig: Rig) -> None:
    config = vestnik_config(rig)
    config.trunk.password = "not-the-password"
    telephony = SipTelephony(config)
    await telephony.start()
    started = time.time()
    try:
        dial = DialSpec(1, CALLER, CALLEE_BY_CODEC["PCMA"], ContactKind.PHONE, 10.0, "")

        async def never() -> Pcm:
            raise AssertionError("the message is only needed once the callee answers")

        handle = telephony.place_call(dial, never(), Observer())
        result = await asyncio.wait_for(handle.result(), 30)
    finally:
        await telephony.stop()
    assert result.finish_reason == FinishReason.NO_SUCCESS_SUBSCRIBER_CALL, result
    assert result.sip_code == 407
    assert rig.callee.events_of("CALL_INCOMING", after=started) == []


async def test_the_whole_service_calls_baresip_through_kamailio(rig: Rig) -> None:
    """API → session queue → dialer → SIP with digest auth → baresip, as deployed."""
    import httpx

    from vestnik.auth import TokenKind
    from vestnik.service import Service
    from vestnik.store.admin_numbers import add_number
    from vestnik.store.admin_users import issue_token
    from vestnik.store.schema import call_sessions

    with rig.engine.begin() as conn:
        add_number(conn, rig.account_id, CALLER, None)
        token = issue_token(conn, rig.account_id, TokenKind.PERMANENT).access_token
    config = vestnik_config(rig)
    config.server.port = 0
    config.dialer.poll_interval_seconds = 0.05
    service = Service(config, engine=rig.engine, workers=[])
    await asyncio.sleep(1.1)  # baresip names recordings by the second
    started = time.time()
    await service.start()
    try:
        request = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "start.informer_call",
            "params": {
                "access_token": token,
                "virtual_phone_number": CALLER,
                "contact": CALLEE_BY_CODEC["PCMU"],
                "contact_message": {"type": "media", "value": str(rig.media_id)},
                "dtmf_string": "5",
            },
        }
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            reply = (await http.post("/v4.0", json=request)).json()
        session_id = reply["result"]["data"]["call_session_id"]
        query = sa.select(call_sessions).where(call_sessions.c.id == session_id)
        deadline = time.monotonic() + 40
        while True:
            with rig.engine.connect() as conn:
                row = conn.execute(query).mappings().one()
            if row["state"] == "finished" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await service.stop()
    assert row["finish_reason"] == "success_finish", dict(row)
    assert row["sip_code"] == 200
    callee = rig.callee
    established = callee.wait_event("CALL_ESTABLISHED", after=started)
    callee.wait_event("CALL_CLOSED", after=started)  # the WAV is complete once the call closed
    assert callee.dtmf_digits(after=started) == "5"
    renderer = AudioRenderer(config, rig.engine)
    audio = await renderer.render(MessageSpec(MessageType.MEDIA, str(rig.media_id), rig.account_id))
    match = match_audio(audio, read_wav_8k(callee.recording_for(established)))
    assert match.passed, match.summary()
