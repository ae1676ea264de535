"""Does a callee's recording contain the audio we sent, frame by frame?

design.md's check. A whole-signal SNR fails on a single lost packet, so instead every 20 ms
frame of the reference that carries speech is looked up in the recording on its own: near the
running delay (which drifts when packets are lost or a jitter buffer adapts) by normalised
cross-correlation. The recording passes when at least 90 % of the speech frames are found with a
correlation of 0.8 or more and no run of unmatched speech frames is longer than 60 ms.

Usage::

    result = match_audio(reference_pcm, recorded_pcm)
    assert result.passed, result.summary()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz

MIN_CORRELATION = 0.8
MIN_MATCHED_RATIO = 0.9
MAX_UNMATCHED_RUN_MS = 60.0
# A frame is speech when its RMS is within this many dB of the loud end of the reference
# (the 95th percentile frame RMS) and above an absolute floor: quieter frames are pauses,
# where correlation says nothing.
SPEECH_RELATIVE_DB = -30.0
SPEECH_ABSOLUTE_RMS = 64.0
# How far (samples) around the running delay a frame is searched: 40 ms covers two lost
# packets in a row or a jitter-buffer step.
SEARCH_WINDOW = 320
# When a frame is not found there, the delay is re-acquired with a longer block (100 ms: long
# enough that voiced speech cannot match itself one pitch period off) searched this far away.
REACQUIRE_BLOCK = 5 * 160
REACQUIRE_WINDOW = SAMPLE_RATE

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AudioMatch:
    """The numbers behind the verdict."""

    speech_frames: int
    matched_frames: int
    longest_unmatched_run_frames: int
    initial_delay: int  # samples: where the reference starts in the recording
    final_delay: int
    min_delay: int
    max_delay: int
    mean_correlation: float  # over speech frames
    min_correlation: float
    max_unmatched_run_ms: float = MAX_UNMATCHED_RUN_MS
    min_matched_ratio: float = MIN_MATCHED_RATIO

    @property
    def matched_ratio(self) -> float:
        return self.matched_frames / self.speech_frames if self.speech_frames else 0.0

    @property
    def longest_unmatched_run_ms(self) -> float:
        return self.longest_unmatched_run_frames * FRAME_SAMPLES * 1000.0 / SAMPLE_RATE

    @property
    def passed(self) -> bool:
        return (
            self.speech_frames > 0
            and self.matched_ratio >= self.min_matched_ratio
            and self.longest_unmatched_run_ms <= self.max_unmatched_run_ms
        )

    def summary(self) -> str:
        verdict = "match" if self.passed else "NO MATCH"
        return (
            f"{verdict}: {self.matched_frames}/{self.speech_frames} speech frames matched "
            f"({self.matched_ratio:.1%}, need {self.min_matched_ratio:.0%}), longest unmatched "
            f"run {self.longest_unmatched_run_ms:.0f} ms (max {self.max_unmatched_run_ms:.0f}), "
            f"delay {self.initial_delay}→{self.final_delay} samples "
            f"(range {self.min_delay}..{self.max_delay}), correlation mean "
            f"{self.mean_correlation:.3f} min {self.min_correlation:.3f}"
        )


def match_audio(
    reference: npt.ArrayLike,
    recording: npt.ArrayLike,
    *,
    min_correlation: float = MIN_CORRELATION,
    min_matched_ratio: float = MIN_MATCHED_RATIO,
    max_unmatched_run_ms: float = MAX_UNMATCHED_RUN_MS,
    search_window: int = SEARCH_WINDOW,
) -> AudioMatch:
    """Compare 8 kHz mono ``recording`` against the ``reference`` that was sent."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    rec = np.asarray(recording, dtype=np.float64).ravel()
    n_frames = len(ref) // FRAME_SAMPLES
    frames = ref[: n_frames * FRAME_SAMPLES].reshape(n_frames, FRAME_SAMPLES)
    speech = _speech_frames(frames)

    delay = initial = _global_delay(ref, rec)
    delays = [delay]
    correlations: list[float] = []
    matched = 0
    run = longest_run = 0
    for index in np.flatnonzero(speech):
        start = int(index) * FRAME_SAMPLES
        corr, lag = _best_lag(frames[index], rec, start + delay, search_window)
        if corr < min_correlation:
            block = ref[start : start + REACQUIRE_BLOCK]
            block_corr, block_lag = _best_lag(block, rec, start + delay, REACQUIRE_WINDOW)
            if block_corr >= min_correlation and block_lag - start != delay:
                corr, lag = _best_lag(frames[index], rec, block_lag, search_window)
        correlations.append(corr)
        if corr >= min_correlation:
            matched += 1
            delay = lag - start
            delays.append(delay)
            run = 0
        else:
            # Runs are counted over consecutive frame indices: a pause (skipped frame) ends one.
            run = run + 1 if index > 0 and speech[index - 1] else 1
            longest_run = max(longest_run, run)
    return AudioMatch(
        speech_frames=int(speech.sum()),
        matched_frames=matched,
        longest_unmatched_run_frames=longest_run,
        initial_delay=initial,
        final_delay=delay,
        min_delay=min(delays),
        max_delay=max(delays),
        mean_correlation=float(np.mean(correlations)) if correlations else 0.0,
        min_correlation=float(np.min(correlations)) if correlations else 0.0,
        max_unmatched_run_ms=max_unmatched_run_ms,
        min_matched_ratio=min_matched_ratio,
    )


def _speech_frames(frames: FloatArray) -> npt.NDArray[np.bool_]:
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    if not len(rms):
        return np.zeros(0, dtype=bool)
    loud = float(np.percentile(rms, 95))
    threshold = max(SPEECH_ABSOLUTE_RMS, loud * 10 ** (SPEECH_RELATIVE_DB / 20))
    return rms >= threshold


def _global_delay(ref: FloatArray, rec: FloatArray) -> int:
    """Lag (samples) of the reference inside the recording by FFT cross-correlation."""
    if not len(ref) or not len(rec):
        return 0
    xcorr = _xcorr(rec, ref)
    # Index k holds lag k for k < len(rec) and negative lags (recording starts late) at the end.
    lags = np.concatenate([np.arange(0, len(rec)), np.arange(-(len(ref) - 1), 0)])
    values = np.concatenate([xcorr[: len(rec)], xcorr[len(xcorr) - (len(ref) - 1) :]])
    return int(lags[int(np.argmax(values))])


def _xcorr(signal: FloatArray, kernel: FloatArray) -> FloatArray:
    """Circular cross-correlation via FFT, long enough not to wrap for lags ≥ 0."""
    size = 1 << int(np.ceil(np.log2(len(signal) + len(kernel))))
    spectrum = np.fft.rfft(signal, size) * np.conj(np.fft.rfft(kernel, size))
    return np.fft.irfft(spectrum, size)


def _best_lag(frame: FloatArray, rec: FloatArray, center: int, window: int) -> tuple[float, int]:
    """Best normalised correlation of ``frame`` in ``rec`` at offsets center ± window."""
    width = len(frame)
    lo = max(0, center - window)
    hi = min(len(rec) - width, center + window)
    if hi < lo or not width:
        return 0.0, center
    segment = rec[lo : hi + width]
    if (hi - lo) * width > 200_000:
        dots = _xcorr(segment, frame)[: hi - lo + 1]
    else:
        dots = np.correlate(segment, frame, mode="valid")
    squares = np.concatenate([[0.0], np.cumsum(segment * segment)])
    energies = squares[width:] - squares[:-width]
    norm = np.sqrt(np.maximum(energies, 0.0) * float(frame @ frame))
    # A silent stretch of the recording never matches speech (and must not divide by zero).
    with np.errstate(divide="ignore", invalid="ignore"):
        ncc = np.where(norm > 1e-9, dots / norm, 0.0)
    best = int(np.argmax(ncc))
    return float(ncc[best]), lo + best


def read_wav_8k(path: str | Path) -> npt.NDArray[np.int16]:
    """A recording as 8 kHz mono int16 (first channel; resampled with soxr when needed)."""
    import soundfile
    import soxr

    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    mono = np.ascontiguousarray(data[:, 0])
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return np.asarray(mono, dtype=np.int16)
