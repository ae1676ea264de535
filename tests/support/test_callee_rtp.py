"""The test callee's RTP and its pcap: the presses sit where they are asked, and the file reads
back as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.callee_rtp import Press, callee_pcap, callee_stream
from tests.support.pcap import read_rtp
from vestnik.telephony.rtp.dtmf import detect_dtmf
from vestnik.telephony.rtp.g711 import PCMA
from vestnik.telephony.rtp.packets import RtpPacket, TelephoneEvent


def test_rfc4733_press_two_seconds_in() -> None:
    packets = [RtpPacket.parse(d) for _, d in callee_stream(3.0, [Press(2.0, "1")])]
    events = [(i, p) for i, p in enumerate(packets) if p.payload_type == 101]
    assert [i for i, _ in events] == list(range(100, 107))  # 5 packets + 2 more end packets
    assert events[0][1].marker and not any(p.marker for _, p in events[1:])
    assert {p.timestamp for _, p in events} == {packets[100].timestamp}
    parsed = [TelephoneEvent.parse(p.payload) for _, p in events]
    assert [e.key for e in parsed] == ["1"] * 7
    assert [e.end for e in parsed] == [False] * 4 + [True] * 3
    assert [e.duration for e in parsed] == [160, 320, 480, 640, 800, 800, 800]


def test_inband_press_two_seconds_in() -> None:
    audio = [RtpPacket.parse(d) for _, d in callee_stream(3.0, [Press(2.0, "1")], inband=True)]
    assert {p.payload_type for p in audio} == {PCMA.payload_type}
    pcm = np.concatenate([PCMA.decode(p.payload) for p in audio])
    (key,) = detect_dtmf(pcm)
    assert key.key == "1" and abs(key.start - 2.0) < 0.03


def test_the_pcap_reads_back_as_written(tmp_path: Path) -> None:
    stream = callee_stream(1.0, [Press(0.5, "#")])
    packets = read_rtp(callee_pcap(tmp_path / "c.pcap", 1.0, [Press(0.5, "#")]))
    assert [round(p.time, 3) for p in packets] == [round(t, 3) for t, _ in stream]
    for p, (_, data) in zip(packets, stream, strict=True):
        original = RtpPacket.parse(data)
        assert (p.payload_type, p.sequence, p.timestamp, p.ssrc, p.payload) == (
            original.payload_type, original.sequence_number, original.timestamp,
            original.ssrc, original.payload,
        )  # fmt: skip
