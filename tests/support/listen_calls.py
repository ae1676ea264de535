"""Listening calls against a SIPp callee that plays a pcap we built (``callee_rtp``): the
scenario, a started ``SipTelephony`` towards it, and one call's outcome with its timing.
Shared by ``tests/telephony/listen`` and ``bench/dtmf_latency_bench.py``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.support.callee_rtp import Press, callee_pcap
from tests.support.sipp import SippUas
from tests.support.telephony import RecordingObserver, ready
from vestnik.calls import ContactKind
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallResult, DialSpec, Listen
from vestnik.config import Config
from vestnik.telephony.sip.adapter import SipTelephony

CALLER = "74993720692"
CALLEE = "79161234567"


def callee(
    workdir: Path,
    presses: list[Press],
    *,
    seconds: float = 6.0,
    inband: bool = False,
    events: bool = True,
    hangup_ms: int | None = None,
    calls: int = 1,
    level: float = 0.0,
    say: Sequence[tuple[float, npt.NDArray[np.int16]]] = (),
) -> SippUas:
    """A started SIPp callee: answers, plays ``seconds`` of RTP with ``presses`` (RFC 4733, or
    in-band tones) and what it ``say``s (``callee_rtp``), offers telephone-event when
    ``events``; hangs up after ``hangup_ms`` (None: waits for our BYE)."""
    workdir.mkdir(parents=True, exist_ok=True)
    pcap = callee_pcap(
        workdir / "callee.pcap", seconds, presses, inband=inband, level=level, say=say
    )
    template: dict[str, object] = {
        "pcap": pcap,
        "pts": "8 101" if events else "8",
        "events": "a=rtpmap:101 telephone-event/8000" if events else "a=sendrecv",
    }
    scenario = "uas_answer_play.xml"
    if hangup_ms is not None:
        scenario, template["hangup_ms"] = "uas_answer_play_bye.xml", hangup_ms
    return SippUas.launch(scenario, workdir, calls=calls, template=template, timeout=60)


async def telephony(
    trunk_port: int,
    pacer_process: bool = True,
    speech_dir: Path | None = None,
    workers: int = 1,
    queue: int = 8,
) -> SipTelephony:
    """A started ``SipTelephony`` towards the callee; with ``speech_dir`` (the data directory
    the model is joined into, once) and the real Whisper recogniser of ``workers`` and
    ``queue`` (loaded at the first call that asks for a spoken reply, or ``load_recognizer``)."""
    config = Config()
    config.rtp.pacer_process = pacer_process
    config.sip.bind_host = "127.0.0.1"
    config.sip.port = 0
    config.trunk.host = "127.0.0.1"
    config.trunk.port = trunk_port
    config.trunk.options_interval = 0  # the SIPp callee answers calls, not OPTIONS
    config.rtp.port_min, config.rtp.port_max = 44000, 44998
    config.dialer.dtmf_tone_ms = 100
    config.dialer.dtmf_gap_ms = 100
    recognizer = None
    if speech_dir is not None:
        from vestnik import speech

        config.data_dir = str(speech_dir)
        config.speech.workers, config.speech.queue = workers, queue
        recognizer = speech.create_recognizer(config)
    t = SipTelephony(config, recognizer=recognizer)
    await t.start()
    return t


@dataclass
class Outcome:
    result: CallResult
    answered_at: float  # time.monotonic()
    ended_at: float  # time.monotonic() when the result was known

    @property
    def seconds(self) -> float:
        """From the answer to the result."""
        return self.ended_at - self.answered_at


class _Observer(RecordingObserver):
    def __init__(self) -> None:
        super().__init__()
        self.answered_at = 0.0

    def on_answered(self) -> None:
        super().on_answered()
        self.answered_at = time.monotonic()


async def call(
    t: SipTelephony, message: Pcm, listen: Listen | None, dtmf: str = "", timeout: float = 30
) -> Outcome:
    observer = _Observer()
    dial = DialSpec(1, CALLER, CALLEE, ContactKind.PHONE, 5.0, dtmf, listen=listen)
    handle = t.place_call(dial, ready(message), observer)
    result = await asyncio.wait_for(handle.result(), timeout)
    return Outcome(result, observer.answered_at, time.monotonic())
