"""DTMF as audio: dual-tone generation (in-band fallback) and a Goertzel detector.

vestnik sends DTMF as RFC 4733 telephone-events when the callee's SDP offers them, and as
in-band dual tones otherwise (``dtmf_tone``). ``detect_dtmf`` finds keys in received audio: the
tests and the test phone use it to check what was sent in-band.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from vestnik.calls.audio import SAMPLE_RATE, Pcm

# ITU-T Q.23 keypad: (row Hz, column Hz).
ROW_HZ = (697, 770, 852, 941)
COLUMN_HZ = (1209, 1336, 1477, 1633)
KEYPAD = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES: dict[str, tuple[int, int]] = {
    key: (ROW_HZ[r], COLUMN_HZ[c]) for r, row in enumerate(KEYPAD) for c, key in enumerate(row)
}

# Each tone at about -9 dBFS, so the pair peaks near -3 dBFS without clipping.
TONE_AMPLITUDE = 0.35 * 32767
# "." in a DTMF string: a pause of one second (the vendor's rule).
PAUSE_SECONDS = 1.0


def dtmf_tone(key: str, duration_ms: int, sample_rate: int = SAMPLE_RATE) -> Pcm:
    """The dual tone of one key, with 2 ms ramps so it starts and stops without clicks."""
    low, high = DTMF_FREQUENCIES[key.upper()]
    n = sample_rate * duration_ms // 1000
    t = np.arange(n) / sample_rate
    wave = TONE_AMPLITUDE * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))
    ramp = min(n // 2, sample_rate // 500)
    if ramp:
        envelope = np.linspace(0.0, 1.0, ramp)
        wave[:ramp] *= envelope
        wave[n - ramp :] *= envelope[::-1]
    return np.round(wave).astype(np.int16)


@lru_cache(maxsize=16)
def _basis(frequencies: tuple[int, ...], n: int, sample_rate: int) -> npt.NDArray[np.complex128]:
    """The single-bin DFT basis, ``(n, freqs)``: made once per block length (the streaming
    detector asks for it 50 times a second per listening call)."""
    t = np.arange(n) / sample_rate
    basis: npt.NDArray[np.complex128] = np.exp(-2j * np.pi * np.outer(frequencies, t)).T
    return basis


def tone_powers(
    blocks: np.ndarray, frequencies: tuple[int, ...], sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Power at each frequency for each row of ``blocks`` (a single-bin DFT, the same value
    the Goertzel recurrence computes), scaled so a sine of energy E in a block gives about E."""
    n = blocks.shape[-1]
    spectrum = blocks @ _basis(frequencies, n, sample_rate)  # (blocks, freqs)
    powers: np.ndarray = 2.0 * np.abs(spectrum) ** 2 / n
    return powers


@dataclass(frozen=True)
class DetectedKey:
    key: str
    start: float  # seconds from the start of the audio
    end: float


def detect_dtmf(
    pcm: Pcm, sample_rate: int = SAMPLE_RATE, block_ms: int = 20, min_blocks: int = 2
) -> list[DetectedKey]:
    """Keys present in ``pcm``: a block counts when its strongest row and column tones carry
    most of its energy; a key is reported when it holds for ``min_blocks`` blocks in a row."""
    size = sample_rate * block_ms // 1000
    count = len(pcm) // size
    blocks = np.asarray(pcm[: count * size], dtype=np.float64).reshape(count, size)
    energy = np.einsum("ij,ij->i", blocks, blocks)
    rows = tone_powers(blocks, ROW_HZ, sample_rate)
    cols = tone_powers(blocks, COLUMN_HZ, sample_rate)
    r = rows.argmax(axis=1)
    c = cols.argmax(axis=1)
    best_row = rows[np.arange(count), r]
    best_col = cols[np.arange(count), c]
    is_tone = (
        (energy > size * 100.0**2)  # quieter than about -50 dBFS is silence
        & (best_row + best_col > 0.6 * energy)
        & (np.minimum(best_row, best_col) > 0.15 * energy)
    )
    labels = [KEYPAD[r[i]][c[i]] if is_tone[i] else None for i in range(count)]
    keys: list[DetectedKey] = []
    start = 0
    for i in range(1, count + 1):
        if i < count and labels[i] == labels[start]:
            continue
        label = labels[start]
        if label is not None and i - start >= min_blocks:
            keys.append(DetectedKey(label, start * size / sample_rate, i * size / sample_rate))
        start = i
    return keys
