"""Voice-activity detection on the callee's 20 ms frames: where a spoken reply starts and ends.

A frame is **voiced** when its level (mean absolute amplitude, ``amd.frame_level``) is at least
``MIN_LEVEL`` and more than ``NOISE_RATIO`` times the noise floor. The floor follows the
quietest of the recent levels: it drops at once to a quieter frame and rises slowly towards
a louder one (a time constant of ``FLOOR_RISE_SECONDS``). Speech keeps dipping between
syllables, so the floor stays under it; a steady noise (a hiss, a hum, a bad line) pulls the
floor up to itself within ``FLOOR_RISE_SECONDS * ln(NOISE_RATIO / (NOISE_RATIO - 1))`` at most
(0.8 s) and from then on is not voiced: noise is never an endless reply. The floor starts at
the first frame's level, so a noise that was there from the answer is never voiced at all.

A floor that has not caught up yet (a noise that starts abruptly) is told from speech by its
spectrum: voiced speech puts its energy in a few harmonics and formants, a hiss spreads it
evenly. The spectral flatness (geometric over arithmetic mean of the frame's power spectrum)
of each voiced frame is kept; ``noise_like`` says the segment's median is above
``NOISE_FLATNESS``. Measured through G.711 A-law: festival's "да", "нет", "алло",
"подтверждаю", "отмена" 0.006-0.042 (0.019-0.067 over white noise at level 300), white noise
0.57, pink noise 0.22 (brown noise, a low rumble a phone line cuts off, 0.001: it passes).

A **segment** (a run of speech) starts once ``ONSET_FRAMES`` voiced frames come in a row
(clicks and single pops are not speech) and ends after ``end_silence_ms`` without a voiced
frame (the hangover: pauses between words do not end a reply). Measured on festival's Russian
voice through G.711 A-law (``bench/collect_speech_bench.py``'s replies): "да" and "нет" are
one segment of 400-460 ms each; digital silence and white noise (levels 300-3000) give none
after the first 0.8 s of a noise that starts abruptly.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from vestnik.calls.audio import Pcm
from vestnik.telephony.listen.amd import FRAME_MS, frame_level

MIN_LEVEL = 200.0  # mean |sample| of 16-bit audio: about -44 dBFS; line noise stays below
NOISE_RATIO = 3.0  # voiced: this many times the floor (about +10 dB)
FLOOR_RISE_SECONDS = 2.0  # the floor's time constant towards louder frames
ONSET_FRAMES = 3  # voiced frames in a row that start a segment (60 ms)
NOISE_FLATNESS = 0.15  # a segment whose median spectral flatness is above this is a noise
_WINDOW = np.hanning(160)
_RISE = 1.0 - math.exp(-FRAME_MS / 1000 / FLOOR_RISE_SECONDS)


class VoiceActivity:
    """Frames in, segment starts and ends out (``feed``)."""

    def __init__(self, end_silence_ms: int) -> None:
        self.end_silence_ms = end_silence_ms
        self.floor: float | None = None
        self.level = 0.0  # the last frame's
        self.speaking = False  # inside a segment
        self.voiced_ms = 0  # voiced frames in the current segment
        self.segment_ms = 0  # the current segment's length so far (hangover included)
        self._run = 0  # voiced frames in a row
        self._quiet_ms = 0  # since the last voiced frame
        self._onset_flatness: deque[float] = deque(maxlen=ONSET_FRAMES)
        self.flatness: list[float] = []  # of the current segment's voiced frames

    @property
    def noise_like(self) -> bool:
        """The current (or last) segment sounds like a steady noise, not speech."""
        return bool(self.flatness) and float(np.median(self.flatness)) > NOISE_FLATNESS

    def voiced(self, frame: Pcm) -> bool:
        """This frame is voice (and moves the floor)."""
        level = self.level = frame_level(frame)
        floor = self.floor
        if floor is None or level < floor:
            floor = level
        else:
            floor += (level - floor) * _RISE
        self.floor = floor
        return level >= MIN_LEVEL and level > NOISE_RATIO * floor

    def feed(self, frame: Pcm) -> str | None:
        """``"start"`` when this frame starts a segment (the ``ONSET_FRAMES`` before it are
        part of it), ``"end"`` when it ends one, else None."""
        voiced = self.voiced(frame)
        self._run = self._run + 1 if voiced else 0
        if voiced:
            (self.flatness if self.speaking else self._onset_flatness).append(flatness(frame))
        if not self.speaking:
            if self._run >= ONSET_FRAMES:
                self.speaking, self._quiet_ms = True, 0
                self.flatness = list(self._onset_flatness)
                self.voiced_ms = self.segment_ms = ONSET_FRAMES * FRAME_MS
                return "start"
            return None
        self.segment_ms += FRAME_MS
        if voiced:
            self.voiced_ms += FRAME_MS
            self._quiet_ms = 0
            return None
        self._quiet_ms += FRAME_MS
        if self._quiet_ms >= self.end_silence_ms:
            self.speaking = False
            return "end"
        return None


def flatness(frame: Pcm) -> float:
    """The spectral flatness of one frame: near 1 for white noise, near 0 for a tone or a
    vowel."""
    if len(frame) != len(_WINDOW):
        return 0.0
    power = np.abs(np.fft.rfft(frame * _WINDOW))[1:] ** 2 + 1e-3
    return float(np.exp(np.mean(np.log(power))) / np.mean(power))
