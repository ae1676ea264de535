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
from pathlib import Path

import numpy as np
import pytest

from tests.support.amd_audio import CALLEE_SSRC as SSRC
from tests.support.amd_audio import callee_answer, callee_pcap
from tests.support.listen_calls import call, telephony
from tests.support.pcap import LoopbackCapture, read_rtp
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import tone
from vestnik.calls.options import AnsweredBy
from vestnik.calls.ports import Listen
from vestnik.telephony.rtp import g711
from vestnik.telephony.rtp.packets import PT_PCMA

pytestmark = [requires_sipp, pytest.mark.sip]


@pytest.mark.parametrize("kind", ["human", "machine"])
async def test_detect_machine_on_a_sipp_callee(tmp_path: Path, kind: str) -> None:
    audio, beep_end_ms = callee_answer(kind)
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
