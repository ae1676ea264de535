"""Voice-activity detection on festival's Russian speech, silence and steady noise, all
through G.711 A-law as a callee's RTP brings them."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tests.support.voice import noise, said, speech_bounds
from vestnik.telephony.listen.vad import VoiceActivity
from vestnik.telephony.rtp.g711 import PCMA


def segments(
    pcm: npt.NDArray[np.int16], end_silence_ms: int = 700, noise: list[bool] | None = None
) -> list[tuple[float, float]]:
    """(start, end) in seconds of each segment the detector finds (the end: where the
    hangover ran out; a segment still open at the end of the audio ends there); ``noise``
    gets each segment's ``noise_like``."""
    vad = VoiceActivity(end_silence_ms)
    line = PCMA.decode(PCMA.encode(pcm))
    found: list[tuple[float, float]] = []
    start = 0.0
    for i in range(len(line) // 160):
        event = vad.feed(line[i * 160 : (i + 1) * 160])
        if event == "start":
            start = (i - 2) * 0.02
        elif event == "end":
            found.append((start, (i + 1) * 0.02))
            if noise is not None:
                noise.append(vad.noise_like)
    if vad.speaking:
        found.append((start, len(line) / 8000))
        if noise is not None:
            noise.append(vad.noise_like)
    return found


def padded(pcm: npt.NDArray[np.int16], before: float, after: float) -> npt.NDArray[np.int16]:
    return np.concatenate([np.zeros(round(before * 8000), np.int16), pcm,
                           np.zeros(round(after * 8000), np.int16)])  # fmt: skip


def test_a_short_answer_is_one_segment_ended_by_the_hangover() -> None:
    for word in ("да", "нет"):
        pcm = padded(said(word), 1.0, 2.0)
        first, last = speech_bounds(pcm)
        noise_like: list[bool] = []
        found = segments(pcm, noise=noise_like)
        assert len(found) == 1 and noise_like == [False], (word, found)
        start, end = found[0]
        assert abs(start - first) <= 0.04, (word, start, first)
        # 700 ms of hangover after the last voiced frame; a consonant's quiet release (the
        # "т" of "нет", 400-570 against a floor of ~200 left by the vowel) is not voice.
        assert last + 0.5 <= end <= last + 0.8, (word, end, last)


def test_pauses_between_words_do_not_end_a_reply() -> None:
    # festival's own silence around each word: a pause of about 0.35 s between them.
    pcm = padded(np.concatenate([said("да"), said("подтверждаю")]), 0.5, 1.5)
    assert len(segments(pcm)) == 1


def test_silence_and_steady_noise_from_the_answer_are_never_speech() -> None:
    assert segments(np.zeros(8000 * 5, np.int16)) == []
    for level in (100.0, 300.0, 1000.0, 3000.0):
        assert segments(noise(10.0, level)) == [], level


def test_noise_that_starts_abruptly_is_one_noise_like_segment_under_a_second_long() -> None:
    for level in (300.0, 1000.0, 3000.0):
        pcm = np.concatenate([np.zeros(8000, np.int16), noise(10.0, level)])
        noise_like: list[bool] = []
        found = segments(pcm, noise=noise_like)
        assert len(found) == 1 and noise_like == [True], (level, found)
        start, end = found[0]
        assert 0.98 <= start <= 1.1 and end - 0.7 - start < 0.9, (level, found)


def test_speech_over_line_noise_still_stands_out() -> None:
    speech = padded(said("да"), 2.0, 2.0)
    pcm = np.clip(speech.astype(np.int32) + noise(len(speech) / 8000, 300.0), -32768, 32767)
    noise_like: list[bool] = []
    found = segments(pcm.astype(np.int16), noise=noise_like)
    assert len(found) == 1 and noise_like == [False], found
    first, _last = speech_bounds(speech)
    assert abs(found[0][0] - first) <= 0.1
