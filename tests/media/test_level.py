"""Conditioning: 8 kHz, −18 dBFS active RMS, −1 dBFS peak ceiling, proper anti-aliasing."""

from __future__ import annotations

import numpy as np
import pytest

from vestnik.media.level import (
    PEAK_CEILING_DBFS,
    TARGET_DBFS,
    SilentAudioError,
    active_rms,
    amplitude_to_db,
    conform,
    limit_peaks,
)


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dbfs_rms(pcm: np.ndarray) -> float:
    x = pcm.astype(np.float64) / 32768.0
    return amplitude_to_db(float(np.sqrt(np.mean(x * x))))


def test_conform_resamples_and_normalises_a_quiet_tone() -> None:
    pcm = conform(tone(440.0, 2.0, 44_100, amplitude=0.01), 44_100)
    assert pcm.dtype == np.int16
    assert pcm.size == pytest.approx(16_000, abs=2)
    assert dbfs_rms(pcm[100:-100]) == pytest.approx(TARGET_DBFS, abs=0.5)


def test_pauses_do_not_raise_the_speech_level() -> None:
    # 1 s of tone then 3 s of silence: a whole-signal RMS would boost the tone by 6 dB.
    rate = 16_000
    signal = np.concatenate([tone(300.0, 1.0, rate, 0.1), np.zeros(3 * rate, np.float32)])
    pcm = conform(signal, rate)
    assert dbfs_rms(pcm[100:7900]) == pytest.approx(TARGET_DBFS, abs=0.5)
    assert np.abs(pcm[8200:]).max() <= 1


def test_peaks_are_limited_to_the_ceiling() -> None:
    # A quiet tone with loud clicks: reaching −18 dBFS would push the clicks far past 0 dBFS.
    rate = 8000
    signal = tone(500.0, 2.0, rate, 0.05)
    signal[4000] = 0.99
    signal[9000] = -0.99
    pcm = conform(signal, rate)
    ceiling = 32768 * 10 ** (PEAK_CEILING_DBFS / 20)
    assert np.abs(pcm.astype(np.int32)).max() <= ceiling + 1
    # Away from the clicks the tone keeps its normalised level.
    assert dbfs_rms(pcm[12_000:15_000]) == pytest.approx(TARGET_DBFS, abs=1.0)


def test_limiter_is_smooth_and_never_overshoots() -> None:
    rate = 8000
    x = np.full(800, 0.5, dtype=np.float32)
    x[400] = 2.0
    out = limit_peaks(x, 0.89, rate)
    assert np.abs(out).max() <= 0.89 + 1e-6
    gain = out / x
    # No step larger than the ~4 ms ramp allows (a hard clip would jump at one sample).
    assert np.abs(np.diff(gain[300:500])).max() < 0.1
    assert out[0] == pytest.approx(0.5) and out[-1] == pytest.approx(0.5)


def test_resampling_filters_out_what_8khz_cannot_carry() -> None:
    # 6 kHz at 44.1 kHz would alias to 2 kHz without an anti-alias filter.
    rate = 44_100
    signal = tone(300.0, 1.0, rate, 0.3) + tone(6000.0, 1.0, rate, 0.3)
    pcm = conform(signal, rate).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm[:8000]))
    freqs = np.fft.rfftfreq(8000, 1 / 8000)
    at_300 = spectrum[np.argmin(np.abs(freqs - 300))]
    at_2000 = spectrum[np.argmin(np.abs(freqs - 2000))]
    assert at_2000 < at_300 * 1e-3


def test_stereo_int16_is_mixed_down() -> None:
    left = (tone(400.0, 1.0, 8000, 0.2) * 32767).astype(np.int16)
    stereo = np.stack([left, left], axis=1)
    pcm = conform(stereo, 8000)
    assert pcm.ndim == 1 and pcm.size == 8000


def test_silence_is_refused() -> None:
    with pytest.raises(SilentAudioError):
        conform(np.zeros(8000, np.float32), 8000)
    with pytest.raises(SilentAudioError):
        conform(np.full(8000, 1e-5, np.float32), 8000)  # −100 dBFS: digital dust
    assert active_rms(np.zeros(0, np.float32), 8000) == 0.0


def test_limiter_gain_never_exceeds_what_any_sample_needs() -> None:
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(40_000) * 0.4).astype(np.float32)
    x[0] = 1.5  # a peak at the very edge too
    ceiling = 0.89
    out = limit_peaks(x, ceiling, 8000)
    needed = np.minimum(1.0, ceiling / np.abs(x).astype(np.float64))
    nonzero = np.abs(x) > 1e-6
    assert np.all(out[nonzero] / x[nonzero] <= needed[nonzero] + 1e-6)
    # and it is a limiter, not a volume knob: quiet stretches keep (nearly) unit gain
    quiet = np.abs(x) < 0.05
    assert np.median(out[quiet & nonzero] / x[quiet & nonzero]) > 0.5
