"""Spoken replies for the ``collect_speech`` tests and bench: festival's Russian voice
(``text2wave`` with ``voice_msu_ru_nsh_clunits``: Debian festival + festvox-ru, as CI installs
them), made at test time, 8 kHz mono int16 (soxr), and the line noise a callee may send
instead. The callee's pcap (``callee_rtp``) carries them through G.711 A-law."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.support.audio_match import read_wav_8k
from tests.support.processes import require_binary

VOICE = "(voice_msu_ru_nsh_clunits)"


@functools.lru_cache(maxsize=32)
def _said(text: str) -> bytes:
    binary = require_binary("text2wave", "festival festvox-ru")
    with tempfile.TemporaryDirectory() as tmp:
        source, wav = Path(tmp) / "text.txt", Path(tmp) / "said.wav"
        source.write_text(text.lower() + "\n", encoding="utf-8")
        subprocess.run([binary, "-eval", VOICE, str(source), "-o", str(wav)], check=True,
                       timeout=60, capture_output=True)  # fmt: skip
        return read_wav_8k(wav).tobytes()


def said(text: str) -> npt.NDArray[np.int16]:
    """``text`` as festival says it (its own silence of ~0.15 s before and after included)."""
    return np.frombuffer(_said(text), dtype=np.int16).copy()


def speech_bounds(pcm: npt.NDArray[np.int16], level: float = 200.0) -> tuple[float, float]:
    """Seconds from the start of ``pcm`` to the first and past the last 20 ms frame whose mean
    absolute amplitude reaches ``level``: where the speech in it is."""
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160).astype(np.float64)
    loud = np.flatnonzero(np.abs(frames).mean(axis=1) >= level)
    if not len(loud):
        return 0.0, 0.0
    return loud[0] * 0.02, (loud[-1] + 1) * 0.02


def noise(seconds: float, level: float, seed: int = 7) -> npt.NDArray[np.int16]:
    """Steady white noise (standard deviation ``level``): a bad line, not speech."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.standard_normal(round(seconds * 8000)) * level, -32768, 32767).astype(
        np.int16
    )
