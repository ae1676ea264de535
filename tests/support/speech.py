"""Real speech for audio tests, from the espeak-ng command line (Debian ``espeak-ng``).

Independent of vestnik's own TTS code, so tests of the audio check do not depend on the thing
the check is later used to test.
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
