"""vestnik's trunk client calls the test phone directly: every outcome the phone can produce.

Both ends are ours here, so each test checks the two views of one call against each other:
the ``CallResult`` vestnik reports and the ``PhoneCall`` the phone logged. The in-band test is
the one path baresip cannot check: with no telephone-event in the phone's answer vestnik must
send dual tones, and the phone must find them in the audio before the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.audio_match import match_audio, read_wav_8k
from tests.support.processes import free_port_range
from tests.support.telephony import RecordingObserver
from vestnik.calls import ContactKind, FinishReason, MessageType
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallResult, DialSpec, MessageSpec
from vestnik.config import Config
from vestnik.media.render import AudioRenderer
from vestnik.store import create_db_engine
from vestnik.telephony.phone import PhoneCall, PhoneMode, PhoneSettings, TestPhone
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = pytest.mark.sip

TEXT = "Проверка связи. Это тестовое сообщение."


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = create_db_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
async def message(tmp_path: Path, engine: sa.Engine) -> Pcm:
    renderer = AudioRenderer(Config(data_dir=str(tmp_path / "data")), engine)
    return await renderer.render(MessageSpec(MessageType.TTS, TEXT, 1))


class Dialer:
    def __init__(self, telephony: SipTelephony, phone: TestPhone) -> None:
        self.telephony = telephony
        self.phone = phone

    async def call(
        self, audio: Pcm, dtmf: str = "", dialing_timeout: float = 10.0
    ) -> tuple[CallResult, PhoneCall, RecordingObserver]:
        dial = DialSpec(1, "74993720692", "79161234567", ContactKind.PHONE, dialing_timeout, dtmf)

        async def ready() -> Pcm:
            return audio

        observer = RecordingObserver()
        handle = self.telephony.place_call(dial, ready(), observer)
        result = await asyncio.wait_for(handle.result(), 60)
        call = await asyncio.to_thread(self.phone.wait_call, 5.0)
        return result, call, observer


@pytest.fixture
async def dial_phone(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Dialer]]]:
    """``await dial_phone(**phone_settings)``: a started phone and a SipTelephony trunked to it."""
    started: list[tuple[SipTelephony, TestPhone]] = []

    async def make(**settings: Any) -> Dialer:
        phone = TestPhone(PhoneSettings(record_dir=tmp_path / "rec", **settings))
        host, port = phone.start()
        config = Config(data_dir=str(tmp_path / "data"))
        config.sip.port = 0
        config.rtp.port_min, config.rtp.port_max = free_port_range(10)
        config.trunk.host, config.trunk.port = host, port
        telephony = SipTelephony(config)
        started.append((telephony, phone))
        await telephony.start()
        return Dialer(telephony, phone)

    yield make
    for telephony, phone in started:
        await telephony.stop()
        phone.stop()


async def test_answer_rfc4733_digits_and_the_message(dial_phone, message: Pcm) -> None:
    dialer = await dial_phone()
    result, call, observer = await dialer.call(message, dtmf="1.2#")
    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert observer.names == ["dialing", "ringing", "answered"]
    assert result.sip_call_id == call.call_id
    assert call.hung_up_by == "caller" and call.final_code == 200
    assert call.codec == "PCMA" and call.telephone_event == 101
    assert [(d.digit, d.method) for d in call.digits] == [
        ("1", "rfc4733"), ("2", "rfc4733"), ("#", "rfc4733")
    ]  # fmt: skip
    assert [round(d.duration, 2) for d in call.digits] == [0.1, 0.1, 0.1]  # dtmf_tone_ms
    assert call.digits[1].at - call.digits[0].at >= 0.95
    assert call.rtp_lost == 0
    assert call.first_rtp_after_answer is not None and call.first_rtp_after_answer < 0.1
    assert call.wav is not None
    match = match_audio(message, read_wav_8k(call.wav))
    assert match.passed, match.summary()


async def test_inband_dtmf_when_the_answer_has_no_telephone_event(dial_phone, message: Pcm) -> None:
    dialer = await dial_phone(telephone_event=False, codecs=("PCMU",))
    result, call, _ = await dialer.call(message, dtmf="1.2#")
    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert call.codec == "PCMU" and call.telephone_event is None
    assert [(d.digit, d.method) for d in call.digits] == [
        ("1", "inband"), ("2", "inband"), ("#", "inband")
    ]  # fmt: skip
    assert call.digits[1].at - call.digits[0].at >= 0.95
    assert call.digits[2].at - call.digits[1].at < 0.9
    assert call.wav is not None
    match = match_audio(message, read_wav_8k(call.wav))
    assert match.passed, match.summary()
    # The message comes after the tones (about 1.4 s of DTMF), not on top of them.
    assert match.initial_delay / 8000 > 1.2


async def test_phone_hangs_up_mid_message(dial_phone, message: Pcm) -> None:
    dialer = await dial_phone(hangup_after=1.0)
    result, call, _ = await dialer.call(message)
    assert result.finish_reason == FinishReason.SUBSCRIBER_DISCONNECTS, result
    assert call.hung_up_by == "phone"
    assert 0.9 < call.duration < 1.5


async def test_busy_phone(dial_phone, message: Pcm) -> None:
    dialer = await dial_phone(mode=PhoneMode.BUSY)
    result, call, observer = await dialer.call(message)
    assert result.finish_reason == FinishReason.SUBSCRIBER_BUSY, result
    assert result.sip_code == 486
    assert call.final_code == 486 and call.answered_at is None
    assert "answered" not in observer.names


async def test_phone_that_never_answers_is_cancelled(dial_phone, message: Pcm) -> None:
    dialer = await dial_phone(mode=PhoneMode.NOANSWER)
    result, call, observer = await dialer.call(message, dialing_timeout=1.5)
    assert result.finish_reason == FinishReason.SUBSCRIBER_NOT_RESPONSIBLE, result
    assert observer.names == ["dialing", "ringing"]
    assert call.final_code == 487 and call.hung_up_by == "caller"
    assert 1.4 < call.ended_at - call.started_at < 2.2


async def test_stopping_the_phone_mid_call_hangs_up(dial_phone, message: Pcm) -> None:
    dialer = await dial_phone()
    dial = DialSpec(1, "74993720692", "79161234567", ContactKind.PHONE, 10.0, "")

    async def ready() -> Pcm:
        return message

    observer = RecordingObserver()
    handle = dialer.telephony.place_call(dial, ready(), observer)
    for _ in range(100):
        if "answered" in observer.names:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(dialer.phone.stop)
    result = await asyncio.wait_for(handle.result(), 10)
    assert result.finish_reason == FinishReason.SUBSCRIBER_DISCONNECTS, result
    (call,) = dialer.phone.calls
    assert call.hung_up_by == "stopped" and call.final_code == 200
