"""Speech for audio tests: real speech to compare against, and measures that tell speech apart.

``speech`` comes from the espeak-ng command line (Debian ``espeak-ng``), independent of
vestnik's own TTS code, so tests of the audio check do not depend on the thing the check is
later used to test. ``assert_speech_like`` and its measures tell speech from noise, tones or
silence (the media tests' check of what the TTS engines render).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.support.audio_match import read_wav_8k


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=16)
def _speech(text: str, voice: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, timeout=30)
        return read_wav_8k(wav).tobytes()


def speech(text: str, voice: str = "ru") -> npt.NDArray[np.int16]:
    """``text`` spoken by espeak-ng, as 8 kHz mono int16 (skips the test without espeak-ng)."""
    if not have_espeak():
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    return np.frombuffer(_speech(text, voice), dtype=np.int16).copy()


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
