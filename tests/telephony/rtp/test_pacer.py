"""The RTP pacer against a real UDP receiver on loopback."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from itertools import pairwise

import numpy as np
import pytest

from tests.support.rtp_receiver import RtpReceiver, socket_to
from vestnik.telephony.rtp import g711
from vestnik.telephony.rtp.dtmf import detect_dtmf
from vestnik.telephony.rtp.g711 import PCMA, PCMU
from vestnik.telephony.rtp.pacer.ipc import RemoteStream
from vestnik.telephony.rtp.pacer.process import ProcessPacer
from vestnik.telephony.rtp.pacer.scheduler import RtpPacer
from vestnik.telephony.rtp.pacer.stream import EncodedAudioCache, RtpStream, dtmf_items


@pytest.fixture
def pacer() -> Iterator[RtpPacer]:
    p = RtpPacer()
    p.start()
    yield p
    p.close()


def test_audio_is_paced_every_20ms_and_arrives_intact(
    pacer: RtpPacer, receiver: RtpReceiver
) -> None:
    rng = np.random.default_rng(1)
    pcm = (rng.standard_normal(8000 + 37) * 3000).astype(np.int16)  # 1 s and a bit
    done = threading.Event()
    sock = socket_to(receiver)
    stream = pacer.open_stream(
        sock, PCMU, None, on_done=lambda s: done.set(), items=[PCMU.encode(pcm)]
    )
    stream.finish()
    assert done.wait(3)
    assert stream.finished
    receiver.wait_quiet(0.1, 1)
    sock.close()
    packets = [r.packet for r in receiver.packets]
    assert len(packets) == 51  # 8037 samples -> 51 packets, the last padded with silence
    assert all(len(p.payload) == 160 for p in packets)
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    seqs = [p.sequence_number for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in pairwise(seqs))
    stamps = [p.timestamp for p in packets]
    assert all((b - a) % 2**32 == 160 for a, b in pairwise(stamps))
    assert len({p.ssrc for p in packets}) == 1
    heard = receiver.audio(0)
    assert np.array_equal(heard[: len(pcm)], g711.ulaw_decode(PCMU.encode(pcm)))
    assert not heard[len(pcm) :].any()
    gaps = np.diff([r.at for r in receiver.packets]) * 1000
    assert 19.0 < np.median(gaps) < 21.0
    assert gaps.max() < 40  # shared CI machine: generous bound on the worst gap


def test_rfc4733_events_follow_the_rules(pacer: RtpPacer, receiver: RtpReceiver) -> None:
    sock = socket_to(receiver)
    done = threading.Event()
    items = dtmf_items("1#.9", PCMA, 101, tone_ms=100, gap_ms=100)
    stream = pacer.open_stream(sock, PCMA, 101, on_done=lambda s: done.set(), items=items)
    stream.finish()
    assert done.wait(5)
    receiver.wait_quiet(0.1, 1)
    sock.close()
    presses = receiver.key_presses(101)
    assert [p[0] for p in presses] == ["1", "#", "9"]
    assert all(p[2] == 800 for p in presses)  # 100 ms at 8 kHz
    # "#" ends, then the 1 s pause, then "9": starts 1.2 s apart (100 ms gap + 1 s + tone).
    assert 1.1 < presses[2][1] - presses[1][1] < 1.35
    events = receiver.events(101)
    first = [e for e in events if e[3].timestamp == events[0][1]]
    assert first[0][3].marker and not any(e[3].marker for e in first[1:])
    assert [e[2].duration for e in first] == [160, 320, 480, 640, 800, 800, 800]
    assert [e[2].end for e in first] == [False] * 4 + [True] * 3
    seqs = [r.packet.sequence_number for r in receiver.packets]
    assert all((b - a) % 65536 == 1 for a, b in pairwise(seqs))


def test_inband_dtmf_when_no_telephone_event(pacer: RtpPacer, receiver: RtpReceiver) -> None:
    sock = socket_to(receiver)
    done = threading.Event()
    items = dtmf_items("5*0", PCMU, None, tone_ms=100, gap_ms=100)
    assert all(isinstance(item, bytes) for item in items)
    stream = pacer.open_stream(sock, PCMU, None, on_done=lambda s: done.set(), items=items)
    stream.finish()
    assert done.wait(5)
    receiver.wait_quiet(0.1, 1)
    sock.close()
    keys = detect_dtmf(receiver.audio(0))
    assert [k.key for k in keys] == ["5", "*", "0"]
    assert all(0.08 <= k.end - k.start <= 0.12 for k in keys)


def test_silence_until_audio_then_stop_is_immediate(pacer: RtpPacer, receiver: RtpReceiver) -> None:
    sock = socket_to(receiver)
    done = threading.Event()
    stream: RtpStream = pacer.open_stream(sock, PCMA, 101, on_done=lambda s: done.set())
    assert receiver.wait_for(5, 2)
    assert all(r.packet.payload == bytes([0xD5]) * 160 for r in receiver.packets[:5])
    stream.play(PCMA.encode(np.full(8000 * 10, 1000, dtype=np.int16)))
    assert receiver.wait_for(10, 2)
    stream.stop()
    assert done.wait(1)
    count = len(receiver.packets)
    receiver.wait_quiet(0.1, 1)
    assert len(receiver.packets) <= count + 1
    assert not stream.finished
    sock.close()


def test_encoded_audio_is_shared_per_array_and_codec() -> None:
    cache = EncodedAudioCache()
    pcm = np.arange(1600, dtype=np.int16)
    a = cache.get(pcm, PCMA)
    assert cache.get(pcm, PCMA) is a
    assert cache.get(pcm, PCMU) is not a
    copy = pcm.copy()
    assert cache.get(copy, PCMA) == a
    assert len(cache) == 3
    del pcm
    gc.collect()
    assert len(cache) == 1  # the copy's entry; the original's went with its array


def test_process_pacer_plays_shared_audio_and_reports_done(receiver: RtpReceiver) -> None:
    pacer = ProcessPacer()
    pacer.start()
    try:
        pcm = (np.random.default_rng(2).standard_normal(1600) * 2000).astype(np.int16)
        audio = PCMA.encode(pcm)
        done: list[RemoteStream] = []
        finished = threading.Event()

        def on_done(stream: RemoteStream) -> None:
            done.append(stream)
            if len(done) == 2:
                finished.set()

        socks = [socket_to(receiver) for _ in range(2)]
        streams = [pacer.open_stream(s, PCMA, 101, on_done=on_done) for s in socks]
        for stream in streams:
            stream.play(audio)  # the same buffer: sent to the child once
            stream.finish()
        assert finished.wait(5)
        assert all(s.finished and s.first_sent_at is not None for s in streams)
        assert not pacer._buffers  # released once both streams were done
        receiver.wait_quiet(0.1, 1)
        by_ssrc: dict[int, list[bytes]] = {}
        for r in receiver.packets:
            by_ssrc.setdefault(r.packet.ssrc, []).append(r.packet.payload)
        assert len(by_ssrc) == 2
        for payloads in by_ssrc.values():
            heard = b"".join(p for p in payloads if p != bytes([0xD5]) * 160)
            assert heard == audio
    finally:
        pacer.close()
        for s in socks:
            s.close()


def test_process_pacer_death_ends_its_streams(receiver: RtpReceiver) -> None:
    pacer = ProcessPacer()
    pacer.start()
    sock = socket_to(receiver)
    ended = threading.Event()
    stream = pacer.open_stream(sock, PCMU, None, on_done=lambda s: ended.set())
    assert receiver.wait_for(3, 3)
    pacer._process.kill()
    assert ended.wait(5)
    assert not stream.finished and stream.stopped
    pacer.close()
    sock.close()
