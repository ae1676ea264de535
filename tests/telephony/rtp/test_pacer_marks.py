"""Marks and cut: the pacer says when queued audio has been sent (the stream goes on with
silence), and a cut drops what is playing; the in-process and the child-process pacer alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.rtp_receiver import RtpReceiver, socket_to
from vestnik.telephony.rtp.g711 import PCMA
from vestnik.telephony.rtp.pacer.process import ProcessPacer
from vestnik.telephony.rtp.pacer.scheduler import RtpPacer
from vestnik.telephony.rtp.pacer.stream import Mark, ToneEvent
from vestnik.telephony.rtp.packets import TelephoneEvent

SILENCE = bytes([PCMA.silence]) * 160


@pytest.fixture(params=["thread", "process"])
def pacer(request: pytest.FixtureRequest) -> Iterator[RtpPacer | ProcessPacer]:
    p: RtpPacer | ProcessPacer = RtpPacer() if request.param == "thread" else ProcessPacer()
    p.start()
    yield p
    p.close()


class Marks:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int, float]] = []  # (token, tick, monotonic time)
        self.event = threading.Event()

    def __call__(self, _stream: object, token: int, tick: int) -> None:
        self.seen.append((token, tick, time.monotonic()))
        self.event.set()

    def wait(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.seen) >= count, self.seen


def _audio(seconds: float) -> bytes:
    rng = np.random.default_rng(3)
    return PCMA.encode((rng.standard_normal(int(8000 * seconds)) * 3000).astype(np.int16))


def test_a_mark_is_reported_when_the_audio_before_it_was_sent(
    pacer: RtpPacer | ProcessPacer, receiver: RtpReceiver
) -> None:
    sock = socket_to(receiver)
    done = threading.Event()
    stream = pacer.open_stream(sock, PCMA, 101, on_done=lambda s: done.set())
    marks = Marks()
    stream.on_mark = marks
    audio = _audio(0.5)  # 25 packets
    # One queueing: the child process could tick between separate messages.
    stream.extend([Mark(1), audio, Mark(2)])
    marks.wait(2)
    time.sleep(0.3)  # the stream goes on: silence after the mark
    assert not done.is_set()
    stream.finish()
    assert done.wait(3)
    sock.close()
    (t1, tick1, at1), (t2, tick2, at2) = marks.seen
    assert (t1, t2) == (1, 2)
    assert tick2 - tick1 == 25
    assert 0.45 <= at2 - at1 <= 0.7
    payloads = [r.packet.payload for r in receiver.packets]
    first_audio = next(i for i, p in enumerate(payloads) if p != SILENCE)
    assert first_audio == tick1
    assert b"".join(payloads[tick1:tick2]) == audio
    assert len(payloads) >= tick2 + 10  # silence went on after the mark
    assert all(p == SILENCE for p in payloads[tick2:])


def test_cut_drops_the_audio_playing_and_reports_the_dropped_marks(
    pacer: RtpPacer | ProcessPacer, receiver: RtpReceiver
) -> None:
    sock = socket_to(receiver)
    done = threading.Event()
    stream = pacer.open_stream(sock, PCMA, 101, on_done=lambda s: done.set())
    marks = Marks()
    stream.on_mark = marks
    audio = _audio(3.0)
    stream.mark(1)
    stream.play(audio)
    stream.mark(2)
    marks.wait(1)
    time.sleep(0.4)
    cut_at = time.monotonic()
    stream.cut()
    marks.wait(2)
    assert marks.seen[1][0] == 2
    assert marks.seen[1][2] - cut_at < 0.2  # at the next tick, not after 3 s
    after = _audio(0.2)
    stream.play(after)  # queued after the cut: played
    stream.finish()
    assert done.wait(3)
    sock.close()
    receiver.wait_quiet(0.1, 1)
    payloads = [r.packet.payload for r in receiver.packets]
    heard = b"".join(p for p in payloads if p != SILENCE)
    played = heard[: len(heard) - len(after)]
    assert heard.endswith(after)
    assert 0.3 * 8000 <= len(played) <= 0.8 * 8000  # only the part before the cut
    assert audio.startswith(played)


def test_cut_with_finish_queued_ends_the_stream_at_once(
    pacer: RtpPacer | ProcessPacer, receiver: RtpReceiver
) -> None:
    sock = socket_to(receiver)
    done = threading.Event()
    stream = pacer.open_stream(sock, PCMA, 101, on_done=lambda s: done.set())
    stream.play(_audio(3.0))
    stream.finish()
    time.sleep(0.2)
    started = time.monotonic()
    stream.cut()
    assert done.wait(3)
    assert time.monotonic() - started < 0.3
    assert stream.finished
    sock.close()


def test_cut_lets_an_event_in_progress_end_with_its_end_packets(
    pacer: RtpPacer | ProcessPacer, receiver: RtpReceiver
) -> None:

    sock = socket_to(receiver)
    done = threading.Event()
    stream = pacer.open_stream(sock, PCMA, 101, on_done=lambda s: done.set())
    stream.event(ToneEvent(5, tone_ticks=25, gap_ticks=5))  # a 500 ms key press
    stream.play(_audio(1.0))
    assert receiver.wait_for(5, 3)
    stream.cut()
    stream.finish()
    assert done.wait(3)
    sock.close()
    receiver.wait_quiet(0.1, 1)
    packets = [r.packet for r in receiver.packets]
    events = [TelephoneEvent.parse(p.payload) for p in packets if p.payload_type == 101]
    assert len(events) == 27 and [e.end for e in events[-3:]] == [True] * 3
    assert all(p.payload == SILENCE for p in packets if p.payload_type == PCMA.payload_type)
