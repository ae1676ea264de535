"""Voice-activity detection on the callee's 20 ms frames: where a spoken reply starts and ends.

A frame is **voiced** when its level (mean absolute amplitude, ``amd.frame_level``) is at least
``MIN_LEVEL`` and more than ``NOISE_RATIO`` times the noise floor. The floor follows the
quietest of the recent levels: it drops at once to a quieter frame and rises slowly towards
a louder one (a time constant of ``FLOOR_RISE_SECONDS``). Speech keeps dipping between
syllables, so the floor stays under it; a steady noise (a hiss, a hum, a bad line) pulls the
floor up to itself within ``FLOOR_RISE_SECONDS * ln(NOISE_RATIO / (NOISE_RATIO - 1))`` at most
(0.8 s) and from then on is not voiced: noise is never an endless reply. The floor starts at
the first frame's level, so a noise that was there from the answer is never voiced at all.

A **segment** (a run of speech) starts once ``ONSET_FRAMES`` voiced frames come in a row
(clicks and single pops are not speech) and ends after ``end_silence_ms`` without a voiced
frame (the hangover: pauses between words do not end a reply). Measured on festival's Russian
voice through G.711 A-law (``bench/collect_speech_bench.py``'s replies): "да" and "нет" are
one segment of 400-460 ms each; digital silence and white noise (levels 300-3000) give none
after the first 0.8 s of a noise that starts abruptly.
"""

from __future__ import annotations

import math

from vestnik.calls.audio import Pcm
from vestnik.telephony.listen.amd import FRAME_MS, frame_level

MIN_LEVEL = 200.0  # mean |sample| of 16-bit audio: about -44 dBFS; line noise stays below
NOISE_RATIO = 3.0  # voiced: this many times the floor (about +10 dB)
FLOOR_RISE_SECONDS = 2.0  # the floor's time constant towards louder frames
ONSET_FRAMES = 3  # voiced frames in a row that start a segment (60 ms)
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
        if not self.speaking:
            if self._run >= ONSET_FRAMES:
                self.speaking, self._quiet_ms = True, 0
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
