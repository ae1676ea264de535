"""The callee's RTP: frames placed by timestamp, RFC 4733 presses counted once, in-band keys
until the first event, garbage survived; and the socket read on a real loop."""

from __future__ import annotations

import asyncio
import os
import random
import socket

import numpy as np

from vestnik.calls.audio import Pcm
from vestnik.calls.options import CollectDtmf
from vestnik.telephony.listen.collector import DtmfCollector
from vestnik.telephony.listen.receiver import (
    RECEIVE_BUFFER_BYTES,
    CalleeReceiver,
    FrameAssembler,
)
from vestnik.telephony.rtp.dtmf import dtmf_tone
from vestnik.telephony.rtp.g711 import PCMA, PCMU
from vestnik.telephony.rtp.packets import DTMF_EVENTS, RtpPacket, TelephoneEvent

SSRC = 0x1234


class Sink:
    def __init__(self) -> None:
        self.frames: list[tuple[int, Pcm]] = []
        self.keys: list[str] = []

    def frame(self, position: int, frame: Pcm) -> None:
        assert len(frame) == 160
        self.frames.append((position, frame.copy()))

    def key(self, key: str, _at: float) -> None:
        self.keys.append(key)


def receiver(sink: Sink, event_pt: int | None = 101, inband: bool = True) -> CalleeReceiver:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.close()  # datagram() does not read the socket
    return CalleeReceiver(sock, event_pt, sink.frame, sink.key, inband=inband)


def audio(seq: int, ts: int, pcm: Pcm, codec: object = PCMA, ssrc: int = SSRC) -> bytes:
    payload = codec.encode(pcm)  # type: ignore[attr-defined]
    pt = codec.payload_type  # type: ignore[attr-defined]
    return RtpPacket(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, payload).pack()


def event(seq: int, ts: int, key: str, duration: int, end: bool, marker: bool = False) -> bytes:
    payload = TelephoneEvent(DTMF_EVENTS[key], end, duration=duration).pack()
    return RtpPacket(101, seq, ts, SSRC, payload, marker).pack()


def ramp(n: int, start: int = 0) -> Pcm:
    return (np.arange(start, start + n) % 2000).astype(np.int16)


def test_frames_follow_timestamps_with_silence_for_gaps() -> None:
    sink = Sink()
    r = receiver(sink)
    base = 4_000_000_000  # wraps past 2**32 on the way
    r.datagram(audio(1, base, ramp(160)))
    r.datagram(audio(2, base + 160, ramp(160)))
    r.datagram(audio(5, base + 640, ramp(160)))  # two packets lost
    r.datagram(audio(4, base + 480, ramp(160)))  # late: dropped
    r.datagram(audio(5, base + 640, ramp(160)))  # duplicate: dropped
    r.datagram(audio(6, base + 800 + 2**32, ramp(160)))  # same, wrapped (mod 2**32)
    positions = [p for p, _ in sink.frames]
    assert positions == [0, 160, 320, 480, 640, 800]
    assert not sink.frames[2][1].any() and not sink.frames[3][1].any()
    assert r.first_arrival is not None


def test_odd_packet_sizes_make_whole_frames() -> None:
    sink = Sink()
    assembler = FrameAssembler(sink.frame)
    pcm = ramp(800)
    ts = 0
    for size in (80, 240, 100, 220, 160):
        assembler.audio(SSRC, ts, pcm[ts : ts + size])
        ts += size
    assert [p for p, _ in sink.frames] == [0, 160, 320, 480, 640]
    assert np.array_equal(np.concatenate([f for _, f in sink.frames]), pcm)


def test_long_gaps_skip_and_a_new_ssrc_or_a_jump_continues_the_timeline() -> None:
    sink = Sink()
    a = FrameAssembler(sink.frame)
    a.audio(SSRC, 1000, ramp(160))
    a.audio(SSRC, 1000 + 160 + 16000, ramp(160))  # 2 s later: no silence frames, position kept
    assert [p for p, _ in sink.frames] == [0, 16160]
    a.audio(0x999, 77, ramp(160))  # another SSRC: goes on right after
    a.audio(0x999, 77 + 10**9, ramp(160))  # a wild jump: goes on right after
    a.audio(0x999, 77 + 10**9 - 20000, ramp(160))  # far back: goes on right after
    assert [p for p, _ in sink.frames] == [0, 16160, 16320, 16480, 16640]


def test_each_rfc4733_event_is_one_press_whatever_is_lost_or_repeated() -> None:
    sink = Sink()
    r = receiver(sink)
    r.datagram(audio(1, 0, np.zeros(160, np.int16)))
    # "1": start, updates, end sent three times.
    for i, (d, end) in enumerate(
        [(160, False), (320, False), (480, True), (480, True), (480, True)]
    ):
        r.datagram(event(10 + i, 160, "1", d, end, marker=i == 0))
    # "2": the first packets are lost, only its end packets arrive.
    r.datagram(event(30, 2000, "2", 800, True))
    r.datagram(event(31, 2000, "2", 800, True))
    # "2" again (a new press: a new timestamp), all but one update lost, no end packet.
    r.datagram(event(40, 4000, "2", 320, False, marker=True))
    # "3" repeated out of order after another event.
    r.datagram(event(50, 6000, "3", 160, False, marker=True))
    r.datagram(event(41, 4000, "2", 480, True))
    r.datagram(event(51, 6000, "3", 800, True))
    assert sink.keys == ["1", "2", "2", "3"]


def test_a_long_event_split_by_duration_overflow_is_one_press() -> None:
    sink = Sink()
    r = receiver(sink)
    r.datagram(event(1, 1000, "9", 0xFFFF, False, marker=True))
    r.datagram(event(2, 1000 + 0xFFFF, "9", 800, False))  # the same press, new timestamp
    r.datagram(event(3, 1000 + 0xFFFF, "9", 1600, True))
    r.datagram(event(4, 1000 + 0xFFFF + 8000, "9", 160, False, marker=True))  # a new press
    assert sink.keys == ["9", "9"]


def test_inband_keys_until_the_first_event_and_no_double_count() -> None:
    sink = Sink()
    r = receiver(sink)
    pcm = np.concatenate([dtmf_tone("4", 100), np.zeros(800, np.int16)])
    ts = 0
    for i in range(0, len(pcm), 160):
        r.datagram(audio(i, ts, pcm[i : i + 160]))
        ts += 160
    assert sink.keys == ["4"]
    # The phone also sends the same press as an event right after: not counted again.
    r.datagram(event(100, 0, "4", 800, True))
    assert sink.keys == ["4"]
    # From now on only events count: in-band tones are not keys any more.
    tone = dtmf_tone("6", 200)
    for i in range(0, len(tone), 160):
        r.datagram(audio(200 + i, ts, tone[i : i + 160]))
        ts += 160
    r.datagram(event(300, ts, "6", 160, False, marker=True))
    assert sink.keys == ["4", "6"]


def test_other_payload_types_are_ignored_and_the_law_follows_the_payload_type() -> None:
    sink = Sink()
    r = receiver(sink, event_pt=None)  # no telephone-event in the answer: ours (101) counts
    r.datagram(RtpPacket(13, 1, 0, SSRC, b"\x40").pack())  # comfort noise
    r.datagram(RtpPacket(96, 2, 0, SSRC, b"\x00" * 160).pack())
    assert r.ignored_packets == 2 and not sink.frames
    pcm = ramp(160, 500)
    r.datagram(audio(3, 0, pcm, PCMU))
    expected = PCMU.decode(PCMU.encode(pcm))
    assert np.array_equal(sink.frames[0][1], expected)
    r.datagram(event(4, 160, "#", 160, False, marker=True))
    assert sink.keys == ["#"]


def test_garbage_never_crashes_and_counts() -> None:
    sink = Sink()
    r = receiver(sink)
    rng = random.Random(1)
    for i in range(20000):
        size = rng.choice([0, 1, 11, 12, 13, 16, 40, 172, 200, 1500])
        data = bytearray(os.urandom(size)) if i % 2 else bytearray(rng.randbytes(size))
        if size >= 2 and i % 3 == 0:
            data[0] = 0x80 | (data[0] & 0x3F)  # version 2: get past the first check
            data[1] = rng.choice([0, 8, 101, 0x80 | 101, 13])
        r.datagram(bytes(data))
    assert r.bad_packets + r.ignored_packets + r.packets == 20000
    assert r.bad_packets > 0 and r.packets > 0


async def test_reads_the_socket_on_the_loop_bounded_and_stops_before_close() -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    sock.connect(peer.getsockname())
    peer.connect(sock.getsockname())
    sink = Sink()
    collector = DtmfCollector(CollectDtmf(max_digits=2, timeout=1, finish_on="#"))
    r = CalleeReceiver(sock, 101, sink.frame, lambda k, _t: collector.press(k))
    r.start(loop)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= RECEIVE_BUFFER_BYTES
    for i in range(100):  # more than one wakeup's worth
        peer.send(audio(i, i * 160, ramp(160)))
    peer.send(event(500, 16000, "7", 160, False, marker=True))
    peer.send(event(501, 17000, "#", 160, False, marker=True))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if collector.done:
            break
    assert len(sink.frames) >= 100
    assert (collector.digits, collector.ended_by) == ("7", "finish_on")
    r.stop()
    r.stop()  # idempotent
    peer.send(audio(1000, 0, ramp(160)))
    await asyncio.sleep(0.05)
    count = len(sink.frames)
    sock.close()
    peer.close()
    assert count == len(sink.frames)
