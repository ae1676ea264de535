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
from pathlib import Path

import numpy as np
import pytest

from tests.support.amd_audio import human_answer, silence, to_line, voicemail
from tests.support.listen_calls import call, telephony
from tests.support.pcap import LoopbackCapture, read_rtp, write_udp
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import tone
from vestnik.calls.options import AnsweredBy
from vestnik.calls.ports import Listen
from vestnik.telephony.rtp import g711
from vestnik.telephony.rtp.packets import PT_PCMA, RtpPacket

pytestmark = [requires_sipp, pytest.mark.sip]

SSRC = 0x5EED  # the callee's stream (our pcap); any other SSRC is our message
GREETING = "Здравствуйте, вы позвонили Ивану Петрову. Оставьте сообщение после сигнала."


def callee_audio(kind: str) -> tuple[np.ndarray, int | None]:
    """The callee's answer at 8 kHz (after G.711) and, for a machine, where its beep ends."""
    rnd, rng = random.Random(12), np.random.default_rng(12)
    if kind == "human":
        signal, _ = human_answer(rnd, rng, "ru", "Алло?", noisy=False)
        return to_line(np.concatenate([signal, silence(4000)]), "PCMA"), None
    signal, end_ms, note = voicemail(rnd, rng, "ru", GREETING, with_beep=True)
    assert "beep" in note
    return to_line(np.concatenate([signal, silence(3000)]), "PCMA"), end_ms


def callee_pcap(path: Path, audio: np.ndarray) -> Path:
    """The callee's audio as 20 ms PCMA packets for SIPp's ``play_pcap_audio``."""
    datagrams = []
    for i in range(len(audio) // 160):
        payload = g711.PCMA.encode(audio[i * 160 : (i + 1) * 160])
        datagrams.append((i * 0.02, RtpPacket(PT_PCMA, 1000 + i, 5000 + i * 160, SSRC,
                                              payload, i == 0).pack()))  # fmt: skip
    return write_udp(path, datagrams)


@pytest.mark.parametrize("kind", ["human", "machine"])
async def test_detect_machine_on_a_sipp_callee(tmp_path: Path, kind: str) -> None:
    audio, beep_end_ms = callee_audio(kind)
    pcap = callee_pcap(tmp_path / f"{kind}.pcap", audio)
    template = {"pcap": pcap, "pts": "8", "events": "a=sendrecv"}
    sipp = SippUas.launch("uas_answer_play.xml", tmp_path, template=template, timeout=60)
    t = await telephony(sipp.port)
    message = tone(2.0, hz=440.0, level=8000.0)
    try:
        # Our RTP range: both directions of the call's media, on one clock.
        with LoopbackCapture(tmp_path / "call.pcap", "udp portrange 44000-44998") as capture:
            outcome = await call(t, message, Listen(detect_machine=True), timeout=60)
            await asyncio.sleep(0.2)
            capture.stop()
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()
    finally:
        sipp.stop()
        await t.stop()
    packets = read_rtp(capture.path)
    theirs = [p for p in packets if p.ssrc == SSRC]
    ours = [p for p in packets if p.ssrc != SSRC and p.payload_type == PT_PCMA]
    assert theirs, "SIPp played nothing"
    start = theirs[0].time  # the callee's audio starts here (its frame 0)
    loud = [p for p in ours if np.abs(g711.PCMA.decode(p.payload).astype(int)).mean() > 1000]
    assert loud, "our message never arrived"
    message_at = loud[0].time - start
    expected = AnsweredBy.HUMAN if kind == "human" else AnsweredBy.MACHINE
    assert outcome.result.answered_by is expected, outcome.result
    if beep_end_ms is None:
        # "Алло?" is over by ~2 s; the silence after it decides within ~1 s more.
        assert message_at < 4.0, message_at
    else:
        beep_end = beep_end_ms / 1000
        assert beep_end < message_at < beep_end + 1.0, (message_at, beep_end)
