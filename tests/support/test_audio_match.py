"""The frame-by-frame audio check must tell a faithful recording from a wrong one."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tests.support.audio_match import FRAME_SAMPLES, match_audio
from tests.support.speech import speech

TEXT = "Здравствуйте. Ваш заказ номер двенадцать готов к выдаче. Спасибо, что выбрали нас."
OTHER = "Добрый вечер. Напоминаем о записи к врачу на завтра в девять часов утра."


def _silence(ms: int) -> npt.NDArray[np.int16]:
    return np.zeros(ms * 8, dtype=np.int16)


def _drop_packets(pcm: npt.NDArray[np.int16], packets: list[int]) -> npt.NDArray[np.int16]:
    """Remove whole 20 ms packets, as a receiver without concealment would."""
    keep = np.ones(len(pcm), dtype=bool)
    for p in packets:
        keep[p * FRAME_SAMPLES : (p + 1) * FRAME_SAMPLES] = False
    return pcm[keep]


def _speech_packets(pcm: npt.NDArray[np.int16]) -> list[int]:
    frames = pcm[: len(pcm) // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return [int(i) for i in np.flatnonzero(rms > np.percentile(rms, 60))]


def _mu_law_channel(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """Companded 8-bit quantisation, like a G.711 hop (a model, not our codec)."""
    x = pcm.astype(np.float64) / 32768.0
    y = np.sign(x) * np.log1p(255 * np.abs(x)) / np.log1p(255)
    y = np.round(y * 127) / 127
    out = np.sign(y) * ((1 + 255) ** np.abs(y) - 1) / 255
    return (out * 32767).astype(np.int16)


def test_identical_signal_matches() -> None:
    ref = speech(TEXT)
    result = match_audio(ref, ref)
    assert result.passed, result.summary()
    assert result.matched_frames == result.speech_frames
    assert result.speech_frames > 50
    assert result.initial_delay == 0


def test_delayed_and_companded_recording_matches() -> None:
    ref = speech(TEXT)
    rec = np.concatenate([_silence(730), _mu_law_channel(ref), _silence(500)])
    result = match_audio(ref, rec)
    assert result.passed, result.summary()
    assert result.initial_delay == 730 * 8
    assert result.min_correlation > 0.5


def test_recording_that_starts_late_is_found_and_fails() -> None:
    # The first 400 ms of the message never reached the callee.
    ref = speech(TEXT)
    result = match_audio(ref, ref[3200:])
    assert result.initial_delay == -3200
    assert not result.passed, result.summary()


def test_a_few_dropped_packets_still_match() -> None:
    ref = speech(TEXT)
    voiced = _speech_packets(ref)
    lost = voiced[5 :: max(1, len(voiced) // 6)][:5]  # ~5 single losses spread over speech
    rec = np.concatenate([_silence(200), _drop_packets(ref, lost)])
    result = match_audio(ref, rec)
    assert result.passed, result.summary()
    assert result.final_delay < result.max_delay  # the tracker followed the shrinking delay
    assert result.matched_frames < result.speech_frames


def test_zeroed_packets_still_match() -> None:
    # A receiver that writes silence for a lost packet keeps the delay constant.
    ref = speech(TEXT)
    rec = ref.copy()
    for p in _speech_packets(ref)[10::40]:
        rec[p * FRAME_SAMPLES : (p + 1) * FRAME_SAMPLES] = 0
    result = match_audio(ref, rec)
    assert result.passed, result.summary()


def test_different_speech_fails() -> None:
    result = match_audio(speech(TEXT), speech(OTHER))
    assert not result.passed, result.summary()
    assert result.matched_ratio < 0.5


def test_noise_fails() -> None:
    ref = speech(TEXT)
    noise = np.random.default_rng(7).normal(0, 3000, len(ref) + 8000).astype(np.int16)
    result = match_audio(ref, noise)
    assert not result.passed, result.summary()
    assert result.matched_frames == 0


def test_silence_fails() -> None:
    ref = speech(TEXT)
    result = match_audio(ref, np.zeros(len(ref), dtype=np.int16))
    assert not result.passed
    assert result.matched_frames == 0


def test_long_gap_fails_although_most_frames_match() -> None:
    ref = speech(TEXT)
    voiced = _speech_packets(ref)
    # Five lost packets in a row in the middle of speech: a 100 ms hole.
    middle = voiced[len(voiced) // 2]
    while not all(p in voiced for p in range(middle, middle + 5)):
        middle += 1
    rec = _drop_packets(ref, list(range(middle, middle + 5)))
    result = match_audio(ref, rec)
    assert result.matched_ratio >= 0.9, result.summary()
    assert result.longest_unmatched_run_ms > 60
    assert not result.passed


def test_truncated_recording_fails() -> None:
    ref = speech(TEXT)
    result = match_audio(ref, ref[: len(ref) * 2 // 3])
    assert not result.passed, result.summary()
