"""``record: true`` against a real callee: SIPp answers and plays known audio (an RTP pcap
written here with ``tests.support.pcap.write_udp``), the call is placed through SipTelephony
with ``Listen(record=True)``, and the recording's channel 1 is compared frame by frame (20 ms)
with what the callee sent, channel 2 with our message.

The callee's audio is encoded and decoded by sox (A-law), not by vestnik's G.711, so the
reference does not come from the code under test. The recorder places the callee's frames by
RTP timestamp from the first packet's arrival: one alignment offset (found, then bounded) holds
for every frame, and every frame the callee sent must be there, sample for sample; a frame
that is not is reported as lost (not found anywhere) or displaced (found elsewhere).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.support.recorded_audio import (
    FRAME_SAMPLES,
    Int16,
    assert_callee_frames,
    assert_our_message,
    playing_callee,
    sox_alaw,
    sweep,
)
from tests.support.sipp import SippUas, requires_sipp
from tests.support.speech import speech
from tests.support.telephony import RecordingObserver, ready
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.audio import SAMPLE_RATE
from vestnik.calls.ports import DialSpec, Listen
from vestnik.config import Config
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = [requires_sipp, pytest.mark.sip]

CALLER, CALLEE = "74993720692", "79161234567"


@pytest.fixture(params=[True, False], ids=["pacer_process", "pacer_in_process"])
async def telephony(sipp_port: int, request: pytest.FixtureRequest) -> AsyncIterator[SipTelephony]:
    config = Config()
    config.rtp.pacer_process = request.param
    config.sip.bind_host = "127.0.0.1"
    config.sip.port = 0
    config.trunk.host = "127.0.0.1"
    config.trunk.port = sipp_port
    config.trunk.codecs = ["PCMA"]
    config.rtp.port_min, config.rtp.port_max = 45200, 45398
    t = SipTelephony(config)
    await t.start()
    yield t
    await t.stop()


@pytest.fixture
def callee(tmp_path: Path) -> tuple[bytes, Int16]:
    """The callee's audio: a rising sweep then speech, 20 ms frames (sox-encoded, decoded)."""
    said = speech("Алло, слушаю вас. Говорите.")[: int(1.6 * SAMPLE_RATE)]
    pcm = np.concatenate([sweep(1.2, 250, 3300, 9000), said])
    pcm = pcm[: len(pcm) // FRAME_SAMPLES * FRAME_SAMPLES]
    return sox_alaw(pcm, tmp_path)


@pytest.fixture
def sipp(tmp_path: Path, callee: tuple[bytes, Int16]) -> Iterator[SippUas]:
    uas = playing_callee(tmp_path, callee[0])
    yield uas
    uas.stop()


@pytest.fixture
def sipp_port(sipp: SippUas) -> int:
    return sipp.port


async def test_recording_holds_every_frame_the_callee_sent_and_our_message(
    sipp: SippUas, telephony: SipTelephony, callee: tuple[bytes, Int16]
) -> None:
    _, sent = callee
    message = sweep(4.5, 3000, 400, 6000)  # longer than the callee's 2.8 s: they all arrive
    dial = DialSpec(1, CALLER, CALLEE, ContactKind.PHONE, 5.0, "", listen=Listen(record=True))
    handle = telephony.place_call(dial, ready(message), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.finish_reason is FinishReason.SUCCESS_FINISH, result
    assert result.recording is not None, "record: true gave no recording"
    assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()

    data, rate = soundfile.read(io.BytesIO(result.recording.wav), dtype="int16")
    info = soundfile.info(io.BytesIO(result.recording.wav))
    assert (rate, info.channels, info.subtype) == (SAMPLE_RATE, 2, "PCM_16")
    assert abs(result.recording.duration_ms - len(data) * 1000 / SAMPLE_RATE) <= 1
    theirs, ours = data[:, 0].copy(), data[:, 1].copy()
    assert_callee_frames(theirs, sent)
    assert_our_message(ours, message)
