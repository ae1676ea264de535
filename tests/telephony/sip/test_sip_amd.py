"""Answering-machine detection on a real call (issue 12, "the AMD set"): a SIPp callee answers
and plays (a) a short "Алло?" then silence, (b) a voicemail greeting with a beep; the call is
placed through SipTelephony with ``detect_machine`` and must report ``answered_by``, and with
the machine our message's first audible RTP packet must leave after the beep is over.

The callee's audio is made with espeak-ng (``tests.support.amd_audio``), written as an RTP
pcap and replayed by SIPp's ``play_pcap_audio`` as soon as our ACK arrives; dumpcap captures
both directions on loopback, so the beep's end and our message's start are on one clock.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.amd_audio import human_answer, silence, to_line, voicemail
from tests.support.pcap import LoopbackCapture, read_rtp
from tests.support.pcap_writer import write_rtp_pcap
from tests.support.processes import LOOPBACK
from tests.support.rtp_receiver import RtpReceiver
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import RecordingObserver, ready, tone
from vestnik.calls import ContactKind
from vestnik.calls.options import AnsweredBy
from vestnik.calls.ports import CallResult, DialSpec, Listen
from vestnik.config import Config
from vestnik.telephony.rtp import g711
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = [requires_sipp, pytest.mark.sip]

RTP_RANGE = (44000, 44998)
PACER_PROCESS = True
SSRC = 0x5EED  # the callee's stream (our pcap); any other SSRC is our message
GREETING = "Здравствуйте, вы позвонили Ивану Петрову. Оставьте сообщение после сигнала."


@pytest.fixture
async def receiver() -> AsyncIterator[RtpReceiver]:
    r = RtpReceiver()
    yield r
    r.close()


def callee_audio(kind: str) -> tuple[np.ndarray, int | None]:
    """The callee's answer at 8 kHz (after G.711) and, for a machine, where its beep ends."""
    rnd, rng = random.Random(12), np.random.default_rng(12)
    if kind == "human":
        signal, _ = human_answer(rnd, rng, "ru", "Алло?", noisy=False)
        return to_line(np.concatenate([signal, silence(4000)]), "PCMA"), None
    signal, end_ms, note = voicemail(rnd, rng, "ru", GREETING, with_beep=True)
    assert "beep" in note
    return to_line(signal, "PCMA"), end_ms


async def place(sipp: SippUas, receiver: RtpReceiver) -> CallResult:
    config = Config()
    config.sip.bind_host, config.sip.port = LOOPBACK, 0
    config.trunk.host, config.trunk.port = LOOPBACK, sipp.port
    config.rtp.port_min, config.rtp.port_max = RTP_RANGE
    config.rtp.pacer_process = PACER_PROCESS
    telephony = SipTelephony(config)
    await telephony.start()
    try:
        dial = DialSpec(1, "74993720692", "79161234567", ContactKind.PHONE, 10.0, "",
                        listen=Listen(detect_machine=True))  # fmt: skip
        message = tone(2.0, hz=440.0, level=8000.0)
        handle = telephony.place_call(dial, ready(message), RecordingObserver())
        return await asyncio.wait_for(handle.result(), 60)
    finally:
        await telephony.stop()


@pytest.mark.parametrize("kind", ["human", "machine"])
async def test_detect_machine_on_a_sipp_callee(
    tmp_path: Path, receiver: RtpReceiver, kind: str
) -> None:
    audio, beep_end_ms = callee_audio(kind)
    pcap = tmp_path / f"{kind}.pcap"
    sipp = SippUas("uas_answer_play_pcap.xml", tmp_path, template={"pcap": pcap})
    # Symmetric RTP, as a phone does it: SIPp's SDP names its media port, and its pcap is
    # replayed from that port (play_pcap_audio keeps the file's source port).
    write_rtp_pcap(pcap, audio, "PCMA", ssrc=SSRC, src_port=sipp.media_port)
    for name, value in (("media_ip", LOOPBACK), ("media_port", sipp.media_port), ("pt", 8),
                        ("codec", "PCMA")):  # fmt: skip
        sipp.argv += ["-set", name, str(value)]
    capture_filter = f"udp port {sipp.media_port}"
    with LoopbackCapture(tmp_path / "call.pcap", capture_filter) as capture:
        sipp.start()
        try:
            result = await place(sipp, receiver)
            receiver.wait_quiet(0.5, 5.0)
        finally:
            code = await asyncio.to_thread(sipp.wait, 15.0)
    assert code == 0, sipp.log()
    packets = read_rtp(capture.path)
    theirs = [p for p in packets if p.ssrc == SSRC]
    ours = [p for p in packets if p.ssrc != SSRC and p.payload_type == 8]
    assert theirs, "SIPp played nothing"
    start = theirs[0].time  # the callee's audio starts here (its frame 0)
    loud = [p for p in ours if np.abs(g711.alaw_decode(p.payload).astype(int)).mean() > 1000]
    assert loud, "our message never arrived"
    message_at = loud[0].time - start
    expected = AnsweredBy.HUMAN if kind == "human" else AnsweredBy.MACHINE
    assert result.answered_by is expected, result
    if beep_end_ms is None:
        # "Алло?" is over by ~2 s; the silence after it decides within ~1 s more.
        assert message_at < 4.0, message_at
    else:
        beep_end = beep_end_ms / 1000
        assert beep_end < message_at < beep_end + 1.0, (message_at, beep_end)
