"""Message audio conditioning: resample to 8 kHz, normalise the level, limit peaks, int16.

Every message (TTS or uploaded file) passes through :func:`conform` once, so all calls play at
the same loudness. Loudness is measured on the active part of the signal only (20 ms frames
within 40 dB of the loudest), so pauses between phrases do not make speech louder. Peaks above
the ceiling are brought down by a short look-ahead limiter rather than clipped.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from vestnik.calls.audio import SAMPLE_RATE, Pcm

TARGET_DBFS = -18.0  # active-speech RMS after normalisation
PEAK_CEILING_DBFS = -1.0  # no sample louder than this
SILENCE_DBFS = -60.0  # a signal whose peak stays below this is treated as silence
FRAME_SECONDS = 0.020
ACTIVE_RANGE_DB = 40.0  # frames quieter than the loudest by more than this are pauses
LIMITER_WINDOW_SECONDS = 0.004

Float = npt.NDArray[np.float32]


class SilentAudioError(ValueError):
    """The signal has no audible content to normalise."""


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def amplitude_to_db(amplitude: float) -> float:
    return float(20.0 * np.log10(max(amplitude, 1e-12)))


def to_float(samples: npt.NDArray[np.generic]) -> Float:
    """Mono float32 in [-1, 1] from int16 / float samples, mixing channels down if 2-D."""
    arr = np.asarray(samples)
    if arr.ndim == 2:
        arr = arr.mean(axis=1, dtype=np.float64)
    if np.issubdtype(arr.dtype, np.integer):
        scale = float(np.iinfo(arr.dtype).max) + 1.0
        return (arr.astype(np.float32) / np.float32(scale)).astype(np.float32)
    return arr.astype(np.float32, copy=False)


def resample(samples: Float, rate: int, target_rate: int = SAMPLE_RATE) -> Float:
    """Band-limited resampling (soxr 'HQ': proper anti-alias filter, unlike audioop)."""
    if rate == target_rate or samples.size == 0:
        return samples
    return np.asarray(soxr.resample(samples, rate, target_rate, quality="HQ"), dtype=np.float32)


def active_rms(samples: Float, rate: int) -> float:
    """RMS over the frames that carry signal; 0.0 for silence."""
    if samples.size == 0:
        return 0.0
    frame = max(1, int(rate * FRAME_SECONDS))
    usable = samples[: samples.size - samples.size % frame] if samples.size >= frame else samples
    frames = usable.reshape(-1, min(frame, usable.size)).astype(np.float64)
    power = np.mean(frames * frames, axis=1)
    loudest = float(power.max())
    if loudest <= 0.0 or amplitude_to_db(np.sqrt(loudest)) < SILENCE_DBFS:
        return 0.0
    active = power >= loudest * 10.0 ** (-ACTIVE_RANGE_DB / 10.0)
    return float(np.sqrt(power[active].mean()))


def _running_min(x: npt.NDArray[np.float64], width: int) -> npt.NDArray[np.float64]:
    """``out[i] = min(x[i : i + width])`` for every full window, by doubling (O(n log w))."""
    result = x
    span = 1
    while span * 2 <= width:
        result = np.minimum(result[:-span], result[span:])
        span *= 2
    if span < width:  # cover the remainder with a second, overlapping window
        result = np.minimum(result[: -(width - span)], result[width - span :])
    return result


def limit_peaks(samples: Float, ceiling: float, rate: int) -> Float:
    """Smooth look-ahead limiter: no sample exceeds ``ceiling``, gain changes over ~4 ms.

    The per-sample gain each sample needs is spread by a running minimum over twice the window
    and then averaged over the window, so the applied gain is never above what any nearby sample
    needs (no overshoot) and never jumps (no clicks).
    """
    magnitude = np.abs(samples)
    if samples.size == 0 or float(magnitude.max()) <= ceiling:
        return samples
    half = max(1, int(rate * LIMITER_WINDOW_SECONDS / 2))
    needed = np.minimum(1.0, ceiling / np.maximum(magnitude, 1e-12)).astype(np.float64)
    # Beyond the ends the signal is silent: it needs no reduction (gain 1).
    padded = np.pad(needed, 3 * half, constant_values=1.0)
    envelope = _running_min(padded, 4 * half + 1)  # min over [i - 2h, i + 2h], i ∈ [-h, n + h)
    sums = np.concatenate(([0.0], np.cumsum(envelope)))
    width = 2 * half + 1
    gain = (sums[width:] - sums[:-width]) / width  # average over [i - h, i + h], i ∈ [0, n)
    out = samples * gain
    return np.clip(out, -ceiling, ceiling).astype(np.float32)


def normalize_level(
    samples: Float,
    rate: int,
    target_dbfs: float = TARGET_DBFS,
    ceiling_dbfs: float = PEAK_CEILING_DBFS,
) -> Float:
    """Gain to ``target_dbfs`` active RMS, then peaks limited to ``ceiling_dbfs``."""
    rms = active_rms(samples, rate)
    if rms <= 0.0:
        raise SilentAudioError("the audio is silent")
    gained = samples * np.float32(db_to_amplitude(target_dbfs) / rms)
    return limit_peaks(gained.astype(np.float32), db_to_amplitude(ceiling_dbfs), rate)


def to_int16(samples: Float) -> Pcm:
    scaled = np.round(np.clip(samples, -1.0, 32767.0 / 32768.0) * 32768.0)
    return scaled.astype(np.int16)


def conform(samples: npt.NDArray[np.generic], rate: int) -> Pcm:
    """Any mono/stereo signal at ``rate`` → message PCM: 8 kHz, normalised, int16 mono."""
    mono = to_float(samples)
    at_8k = resample(mono, rate)
    return to_int16(normalize_level(at_8k, SAMPLE_RATE))
