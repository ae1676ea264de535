"""Measurements that tell speech from noise, tones or silence (shared by the media tests)."""

from __future__ import annotations

import numpy as np


def frame_energies(pcm: np.ndarray, rate: int, frame_seconds: float = 0.02) -> np.ndarray:
    frame = int(rate * frame_seconds)
    usable = pcm[: pcm.size - pcm.size % frame].astype(np.float64) / 32768.0
    return np.mean(usable.reshape(-1, frame) ** 2, axis=1)


def spectral_centroid(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    freqs = np.fft.rfftfreq(pcm.size, 1 / rate)
    return float((spectrum * freqs).sum() / spectrum.sum())


def assert_speech_like(pcm: np.ndarray, rate: int, min_seconds: float, max_seconds: float) -> None:
    """Duration in range, audible, syllable-rate energy modulation, voice-band spectrum."""
    seconds = pcm.size / rate
    assert min_seconds <= seconds <= max_seconds, f"duration {seconds:.2f} s"
    energy = frame_energies(pcm, rate)
    loud = energy > energy.max() * 1e-3
    # Speech is mostly sound with gaps: neither silence nor a constant tone.
    assert 0.4 < loud.mean() < 0.98, f"active fraction {loud.mean():.2f}"
    # Energy swings between syllables: the coefficient of variation of frame energy is large.
    active = energy[loud]
    assert active.std() / active.mean() > 0.5
    centroid = spectral_centroid(pcm, rate)
    assert 200.0 < centroid < 3500.0, f"spectral centroid {centroid:.0f} Hz"
