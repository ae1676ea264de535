"""Answering-machine detection: who took the call, and when a machine's greeting is over.

``MachineDetector`` follows Asterisk's AMD() (app_amd.c): the callee's audio is cut into 20 ms
frames, each frame is voice or silence, runs of voice are words, and the first of these rules
to hold gives the verdict (``config`` = ``[amd]``, docs/configuration.md):

1. ``max_word_length_ms`` of voice without a pause → **machine** (a greeting, or a tone).
2. ``max_words`` words counted → **machine** (a person says one or two and waits).
3. more than ``greeting_ms`` of voice before a long pause → **machine** (a long greeting).
4. after the first word, ``after_greeting_silence_ms`` of silence → **human** (a short
   "Алло?" and then waiting for us to speak).
5. ``initial_silence_ms`` of silence before any word → **unknown**. Asterisk says MACHINE
   here; we do not: a silent line is as often a person with the phone not yet at the ear,
   a dead line or steady noise, and we cannot tell which.
6. ``total_analysis_ms`` of audio with none of the above → **unknown**.

Rules 1-3 are checked as each voice frame arrives, 4-5 as each silent frame arrives, 6 after
every frame. Asterisk's ``between_words_silence`` and ``min_word_length`` define the words: a
word begins once ``min_word_length_ms`` of voice follow a pause of at least
``between_words_silence_ms``. Words count from the start of the call.

A frame is silence when its mean absolute amplitude is below ``silence_threshold`` (Asterisk's
measure and default, 256 of 32767), or below ``noise_ratio`` times the background level — the
10th percentile of the last 1.5 s of frame levels. This is our addition: with it, a steady hiss
or hum (pink or white noise, a bad line) is silence rather than one endless word, and speech
over background noise still stands out. Lost packets are fed as silence by the caller.

``GreetingEnd`` says when a machine has finished its greeting, so that the message lands in
the mailbox whole. Feed it every frame from the answer on (in parallel with the detector). The
greeting is over at the first of:

* a **beep** — a steady single tone between 400 and 2000 Hz (≥ 85 % of the frame's energy
  around one FFT peak that stays within 50 Hz from frame to frame) lasting 100–2500 ms —
  followed by ``beep_silence_ms`` of anything but the tone;
* ``greeting_end_silence_ms`` of silence after some voice (a greeting without a beep); before
  any voice, ``initial_silence_ms`` of silence;
* ``max_greeting_wait_ms`` of audio in all (the bound: the message starts anyway).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.calls.options import AnsweredBy
from vestnik.config.settings import AmdConfig

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
# The background level: a low percentile of the recent frame levels.
FLOOR_FRAMES = 75  # 1.5 s
FLOOR_PERCENTILE = 10
# Beeps: a steady single tone in this band, this long.
BEEP_BAND_HZ = (400.0, 2000.0)
BEEP_MIN_MS = 100
BEEP_MAX_MS = 2500
BEEP_PURITY = 0.85  # share of the frame's energy within one bin of the peak
BEEP_DRIFT_HZ = 50.0  # the tone's frequency may move this much between frames
_WINDOW = np.hanning(FRAME_SAMPLES)
_FREQS = np.fft.rfftfreq(FRAME_SAMPLES, 1 / SAMPLE_RATE)


def frame_ms(frame: Pcm) -> int:
    """The duration of ``frame`` in milliseconds (20 for the usual 160 samples)."""
    return len(frame) * 1000 // SAMPLE_RATE


def frame_level(frame: Pcm) -> float:
    """Mean absolute amplitude (Asterisk's silence measure); 0 for an empty frame."""
    if len(frame) == 0:
        return 0.0
    return float(np.mean(np.abs(frame.astype(np.float64))))


class VoiceGate:
    """Voice or silence, frame by frame: above ``silence_threshold`` and above ``noise_ratio``
    times the background level (the low percentile of the last ``FLOOR_FRAMES`` levels)."""

    def __init__(self, config: AmdConfig) -> None:
        self._threshold = float(config.silence_threshold)
        self._ratio = config.noise_ratio
        self._levels: deque[float] = deque(maxlen=FLOOR_FRAMES)
        self.level = 0.0  # the last frame's

    @property
    def audible(self) -> bool:
        """The last frame was above the absolute threshold (noise or not)."""
        return self.level >= self._threshold

    def voiced(self, frame: Pcm) -> bool:
        level = self.level = frame_level(frame)
        self._levels.append(level)
        floor = float(np.percentile(np.fromiter(self._levels, float), FLOOR_PERCENTILE))
        return level >= self._threshold and level > floor * self._ratio


class MachineDetector:
    """Human, machine or unknown, from the callee's first seconds (the module's rules).

    ``feed`` takes the frames in order (lost packets as silence) and returns the verdict once
    it is decided, then keeps returning it; ``verdict`` is None until then. At most
    ``total_analysis_ms`` of audio is needed: the detector says UNKNOWN itself after that.
    """

    def __init__(self, config: AmdConfig) -> None:
        self._config = config
        self._gate = VoiceGate(config)
        self._verdict: AnsweredBy | None = None
        self.reason: str | None = None  # which rule decided (for logs and the bench)
        self.decided_at_ms: int | None = None  # audio fed when it was decided
        self._elapsed = 0
        self._voice = 0  # voice in the greeting so far
        self._run_voice = 0  # the current run of voice
        self._run_silence = 0  # the current run of silence
        self._in_word = False
        self._words = 0
        self._spoke = False  # a word was heard (the greeting began)

    @property
    def verdict(self) -> AnsweredBy | None:
        return self._verdict

    @property
    def words(self) -> int:
        return self._words

    def feed(self, frame: Pcm) -> AnsweredBy | None:
        if self._verdict is not None:
            return self._verdict
        ms = frame_ms(frame)
        self._elapsed += ms
        if self._gate.voiced(frame):
            self._on_voice(ms)
        else:
            self._on_silence(ms)
        if self._verdict is None and self._elapsed >= self._config.total_analysis_ms:
            self._decide(AnsweredBy.UNKNOWN, "total analysis time")
        return self._verdict

    def _on_voice(self, ms: int) -> None:
        c = self._config
        self._run_silence = 0
        self._run_voice += ms
        self._voice += ms
        if self._run_voice >= c.min_word_length_ms and not self._in_word:
            self._in_word = True
            self._words += 1
            self._spoke = True
        if self._run_voice >= c.max_word_length_ms:
            self._decide(AnsweredBy.MACHINE, "maximum word length")
        elif self._words >= c.max_words:
            self._decide(AnsweredBy.MACHINE, "maximum number of words")
        elif self._spoke and self._voice >= c.greeting_ms:
            self._decide(AnsweredBy.MACHINE, "long greeting")

    def _on_silence(self, ms: int) -> None:
        c = self._config
        self._run_silence += ms
        if self._run_silence >= c.between_words_silence_ms:
            self._in_word = False
            self._run_voice = 0
        if not self._spoke and self._run_silence >= c.initial_silence_ms:
            self._decide(AnsweredBy.UNKNOWN, "initial silence")
        elif self._spoke and self._run_silence >= c.after_greeting_silence_ms:
            self._decide(AnsweredBy.HUMAN, "silence after greeting")

    def _decide(self, verdict: AnsweredBy, reason: str) -> None:
        self._verdict = verdict
        self.reason = reason
        self.decided_at_ms = self._elapsed


def tone_of(frame: Pcm) -> float | None:
    """The frequency of ``frame`` if it is one steady tone in the beep band, else None."""
    if len(frame) != FRAME_SAMPLES:
        return None
    spectrum = np.abs(np.fft.rfft(frame.astype(np.float64) * _WINDOW)) ** 2
    total = float(spectrum.sum())
    if total <= 0.0:
        return None
    peak = int(np.argmax(spectrum))
    near = float(spectrum[max(peak - 1, 0) : peak + 2].sum())
    if near < BEEP_PURITY * total:
        return None
    # The peak's frequency, refined between the bins by their weights.
    low = max(peak - 1, 0)
    weights = spectrum[low : peak + 2]
    hz = float((weights * _FREQS[low : peak + 2]).sum() / weights.sum())
    return hz if BEEP_BAND_HZ[0] <= hz <= BEEP_BAND_HZ[1] else None


class GreetingEnd:
    """True once a machine's greeting (and its beep) is over: the module's rules, bounded by
    ``max_greeting_wait_ms`` of audio. Feed it every frame from the answer on."""

    def __init__(self, config: AmdConfig) -> None:
        self._config = config
        self._gate = VoiceGate(config)
        self._elapsed = 0
        self._silence = 0  # the current run of silence
        self._heard_voice = False
        self._tone_hz: float | None = None  # the current tone's frequency
        self._tone_ms = 0  # … and how long it has lasted
        self._after_beep: int | None = None  # audio since a beep ended (None: no beep yet)
        self._done = False
        self.reason: str | None = None
        self.done_at_ms: int | None = None  # audio fed when the greeting was over
        self.beep_end_ms: int | None = None  # where the last beep ended

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, frame: Pcm) -> bool:
        if self._done:
            return True
        c = self._config
        ms = frame_ms(frame)
        self._elapsed += ms
        voiced = self._gate.voiced(frame)
        # A long steady tone raises the background level: look for tones in any audible frame.
        hz = tone_of(frame) if self._gate.audible else None
        self._track_tone(hz, ms)
        if voiced and hz is None:
            self._heard_voice = True
        self._silence = 0 if voiced or hz is not None else self._silence + ms
        if self._after_beep is not None and hz is None:
            self._after_beep += ms
            if self._after_beep >= c.beep_silence_ms:
                self._finish("beep")
        needed = c.greeting_end_silence_ms if self._heard_voice else c.initial_silence_ms
        if not self._done and self._silence >= needed:
            self._finish("silence")
        if not self._done and self._elapsed >= c.max_greeting_wait_ms:
            self._finish("maximum wait")
        return self._done

    def _track_tone(self, hz: float | None, ms: int) -> None:
        """Follow a run of tone frames; when it ends and was beep-long, a beep was heard."""
        same = (
            hz is not None
            and self._tone_hz is not None
            and abs(hz - self._tone_hz) <= BEEP_DRIFT_HZ
        )
        if same:
            self._tone_ms += ms
            self._tone_hz = hz
            return
        if self._tone_hz is not None and BEEP_MIN_MS <= self._tone_ms <= BEEP_MAX_MS:
            # A beep just ended: the frame that ended it is the first after it.
            self.beep_end_ms = self._elapsed - ms
            self._after_beep = 0
            self._heard_voice = True
        self._tone_hz = hz
        self._tone_ms = ms if hz is not None else 0
        if hz is not None:
            self._after_beep = None  # another tone: wait for its end

    def _finish(self, reason: str) -> None:
        self._done = True
        self.reason = reason
        self.done_at_ms = self._elapsed
