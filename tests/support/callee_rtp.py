"""What a test callee says: an RTP stream of 20 ms G.711 packets with key presses in it, either
as RFC 4733 telephone-events (start, growing duration, the end packet three times, audio
paused meanwhile, as phones send them) or as in-band dual tones in the audio, and what it says
(``say``: audio placed at its time, e.g. ``tests.support.voice.said``). ``callee_pcap``
writes it for SIPp's ``play_pcap_audio`` (``tests/support/scenarios/uas_answer_play.xml``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.support.pcap import write_udp
from vestnik.telephony.rtp.dtmf import dtmf_tone
from vestnik.telephony.rtp.g711 import PCMA, G711Codec
from vestnik.telephony.rtp.packets import DTMF_EVENTS, RtpPacket, TelephoneEvent

TICK = 0.020
SSRC = 0x5EED
EVENT_PT = 101
START_TS = 123_456
START_SEQ = 1000


@dataclass(frozen=True)
class Press:
    at: float  # seconds from the start of the stream
    key: str
    ms: int = 100  # how long the key is held


def callee_stream(
    seconds: float,
    presses: list[Press],
    inband: bool = False,
    codec: G711Codec = PCMA,
    level: float = 0.0,
    say: Sequence[tuple[float, npt.NDArray[np.int16]]] = (),
) -> list[tuple[float, bytes]]:
    """``(time, datagram)`` for ``seconds`` of audio (silence, or noise at ``level``) with the
    presses in it, and each ``(at, pcm)`` of ``say`` added ``at`` seconds in."""
    count = round(seconds / TICK)
    pcm = np.zeros(count * 160, dtype=np.int16)
    if level:
        pcm += (np.random.default_rng(5).standard_normal(len(pcm)) * level).astype(np.int16)
    for at, audio in say:
        start = round(at * 8000)
        part = audio[: max(0, len(pcm) - start)].astype(np.int32) + pcm[start : start + len(audio)]
        pcm[start : start + len(part)] = np.clip(part, -32768, 32767)
    events: dict[int, tuple[Press, int]] = {}  # tick -> (press, index within the press)
    for press in presses:
        first = round(press.at / TICK)
        if inband:
            tone = dtmf_tone(press.key, press.ms)
            pcm[first * 160 : first * 160 + len(tone)] = tone
        else:
            length = max(1, round(press.ms / 1000 / TICK))
            for i in range(length + 2):  # the end packet goes three times
                events[first + i] = (press, i)
    datagrams: list[tuple[float, bytes]] = []
    seq = START_SEQ
    for tick in range(count):
        ts = START_TS + tick * 160
        if tick in events:
            press, i = events[tick]
            first = round(press.at / TICK)
            length = max(1, round(press.ms / 1000 / TICK))
            duration = min(i + 1, length) * 160
            payload = TelephoneEvent(DTMF_EVENTS[press.key], i >= length - 1, duration=duration)
            packet = RtpPacket(EVENT_PT, seq, START_TS + first * 160, SSRC, payload.pack(), i == 0)
        else:
            audio = codec.encode(pcm[tick * 160 : (tick + 1) * 160])
            packet = RtpPacket(codec.payload_type, seq, ts, SSRC, audio)
        datagrams.append((tick * TICK, packet.pack()))
        seq += 1
    return datagrams


def callee_pcap(path: Path, seconds: float, presses: list[Press], **options: object) -> Path:
    return write_udp(path, callee_stream(seconds, presses, **options))  # type: ignore[arg-type]
