"""CallRecorder: both directions placed by sample offset, bounded, written as a stereo WAV."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
import soundfile

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.telephony.listen.recorder import CHUNK_SAMPLES, CallRecorder


def ramp(n: int, start: int = 1) -> Pcm:
    return np.arange(start, start + n, dtype=np.int16)


def channels(wav: bytes) -> tuple[Pcm, Pcm]:
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, SAMPLE_RATE)
        assert w.getcomptype() == "NONE"
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0].copy(), frames[:, 1].copy()


def test_nothing_added_is_no_recording() -> None:
    recorder = CallRecorder(10)
    assert recorder.recording() is None
    recorder.add(0, 10 * SAMPLE_RATE, ramp(160))  # entirely past the bound: dropped
    recorder.add(1, -500, ramp(160))  # entirely before the answer: dropped
    assert recorder.recording() is None


def test_channels_placed_by_offset_gaps_silent() -> None:
    recorder = CallRecorder(10)
    recorder.add(0, 160, ramp(160))  # callee, frame 2
    recorder.add(0, 480, ramp(160, 1000))  # frame 4 (frame 3 lost: silence)
    recorder.add(1, 0, ramp(320, 5000))  # ours, frames 1-2
    recording = recorder.recording()
    assert recording is not None
    callee, ours = channels(recording.wav)
    assert len(callee) == 640 and recording.duration_ms == 80
    assert not callee[:160].any() and not callee[320:480].any()
    np.testing.assert_array_equal(callee[160:320], ramp(160))
    np.testing.assert_array_equal(callee[480:], ramp(160, 1000))
    np.testing.assert_array_equal(ours[:320], ramp(320, 5000))
    assert not ours[320:].any()  # the shorter channel is padded with silence


def test_overlap_overwrites_and_negative_offset_trims() -> None:
    recorder = CallRecorder(10)
    recorder.add(0, 0, np.full(320, 7, dtype=np.int16))
    recorder.add(0, 100, np.full(100, -3, dtype=np.int16))
    recorder.add(1, -100, ramp(200))  # the first 100 samples fall before the answer
    recording = recorder.recording()
    assert recording is not None
    callee, ours = channels(recording.wav)
    assert (callee[:100] == 7).all() and (callee[100:200] == -3).all()
    assert (callee[200:320] == 7).all()
    np.testing.assert_array_equal(ours[:100], ramp(100, 101))


def test_bounded_by_max_seconds() -> None:
    recorder = CallRecorder(0.5)  # 4000 samples
    for frame in range(40):  # 0.8 s offered
        recorder.add(frame % 2, frame * 160, ramp(160))
    assert recorder.samples == 4000
    recording = recorder.recording()
    assert recording is not None
    callee, ours = channels(recording.wav)
    assert len(callee) == len(ours) == 4000 and recording.duration_ms == 500
    # The frame that straddles the bound is cut at it.
    recorder.add(0, 3950, ramp(160))
    callee, _ = channels(recorder.recording().wav)  # type: ignore[union-attr]
    np.testing.assert_array_equal(callee[3950:], ramp(50))


def test_buffers_grow_in_chunks_and_keep_what_was_written() -> None:
    recorder = CallRecorder(600)
    first = np.full(160, 11, dtype=np.int16)
    recorder.add(0, 0, first)
    assert len(recorder._buffers[0]) == CHUNK_SAMPLES  # one chunk, not 600 s
    late = CHUNK_SAMPLES * 3 + 17
    recorder.add(0, late, ramp(160))
    assert len(recorder._buffers[0]) == CHUNK_SAMPLES * 4
    assert len(recorder._buffers[1]) == 0  # ours: nothing yet, nothing allocated
    callee, ours = channels(recorder.recording().wav)  # type: ignore[union-attr]
    assert (callee[:160] == 11).all() and not callee[160:late].any()
    np.testing.assert_array_equal(callee[late:], ramp(160))
    assert len(ours) == len(callee) and not ours.any()


def test_other_readers_see_the_same_file() -> None:
    recorder = CallRecorder(5)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    recorder.add(0, 0, tone)
    recorder.add(1, SAMPLE_RATE // 2, tone[:4000])
    wav = recorder.recording().wav  # type: ignore[union-attr]
    data, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    info = soundfile.info(io.BytesIO(wav))
    assert (rate, info.channels, info.subtype) == (SAMPLE_RATE, 2, "PCM_16")
    np.testing.assert_array_equal(data[:, 0], tone)
    np.testing.assert_array_equal(data[4000:, 1], tone[:4000])


@pytest.mark.parametrize("channel", [-1, 2])
def test_unknown_channel_refused(channel: int) -> None:
    with pytest.raises(ValueError, match="channel"):
        CallRecorder(1).add(channel, 0, ramp(10))


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_seconds"):
        CallRecorder(0)
