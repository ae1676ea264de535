"""In-band DTMF on the callee's decoded audio: a streaming Goertzel detector over 20 ms frames.

Each frame's power at the eight keypad frequencies (``rtp.dtmf``'s table) is one Goertzel bin
per frequency (``rtp.dtmf.tone_powers``: a single-bin DFT, the same value). A frame holds a
key when:

- it is loud enough (``MIN_ENERGY``: about -40 dBFS per sample) and each of its two tones too;
- the strongest row and column tones carry most of the frame's energy (``TONE_SHARE``), and
  each is ``PEAK_RATIO`` times the second strongest of its group (one key, not a chord or
  speech);
- the twist is within ITU-T Q.24 limits: the column tone at most ``NORMAL_TWIST_DB`` weaker and
  at most ``REVERSE_TWIST_DB`` stronger than the row tone.

A key is reported once it held for ``MIN_FRAMES`` frames in a row (40 ms), and only once per
press: the detector reports again only after ``RELEASE_FRAMES`` frames without it (a 20 ms
drop-out inside a long press is not a second press) or when another key holds.
"""

from __future__ import annotations

import numpy as np

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.telephony.rtp.dtmf import COLUMN_HZ, KEYPAD, ROW_HZ, tone_powers

FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms
MIN_ENERGY = 330.0**2  # mean square per sample: about -40 dBFS
MIN_TONE = MIN_ENERGY / 4  # each of the two tones: 6 dB below that
TONE_SHARE = 0.7
PEAK_RATIO = 4.0  # about 6 dB over the second strongest tone of the same group
NORMAL_TWIST_DB = 8.0
REVERSE_TWIST_DB = 4.0
MIN_FRAMES = 2
RELEASE_FRAMES = 2

_FREQUENCIES = ROW_HZ + COLUMN_HZ
_MIN_TWIST = 10 ** (-NORMAL_TWIST_DB / 10)  # column / row power
_MAX_TWIST = 10 ** (REVERSE_TWIST_DB / 10)


def frame_key(frame: Pcm) -> str | None:
    """The key one 20 ms frame (160 samples) holds, or None."""
    x = np.asarray(frame, dtype=np.float64)
    if len(x) != FRAME_SAMPLES:
        return None
    energy = float(x @ x)
    if energy < MIN_ENERGY * FRAME_SAMPLES:
        return None
    powers = tone_powers(x, _FREQUENCIES)
    rows, cols = powers[:4], powers[4:]
    r, c = int(rows.argmax()), int(cols.argmax())
    row, col = float(rows[r]), float(cols[c])
    if row + col < TONE_SHARE * energy:
        return None
    if min(row, col) < MIN_TONE * FRAME_SAMPLES:
        return None
    if row < PEAK_RATIO * float(np.partition(rows, 2)[2]):  # the second strongest row
        return None
    if col < PEAK_RATIO * float(np.partition(cols, 2)[2]):
        return None
    if not _MIN_TWIST <= col / row <= _MAX_TWIST:
        return None
    return KEYPAD[r][c]


class InbandDtmf:
    """Feed the callee's 20 ms frames in order; ``feed`` returns a key once per press."""

    def __init__(self) -> None:
        self._candidate: str | None = None
        self._held = 0  # frames in a row the candidate held
        self._reported: str | None = None  # the key of the press in progress
        self._absent = 0  # frames in a row without the reported key

    def feed(self, frame: Pcm) -> str | None:
        key = frame_key(frame)
        if key is not None and key == self._candidate:
            self._held += 1
        else:
            self._candidate, self._held = key, (1 if key is not None else 0)
        if self._reported is not None:
            if key == self._reported:
                self._absent = 0
                return None
            self._absent += 1
            if self._absent < RELEASE_FRAMES and (key is None or self._held < MIN_FRAMES):
                return None  # a drop-out or a glitch inside the press
            self._reported = None
        if key is not None and self._held >= MIN_FRAMES:
            self._reported, self._absent = key, 0
            return key
        return None
