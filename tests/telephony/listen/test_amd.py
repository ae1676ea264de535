"""Answering-machine detection on generated audio (espeak-ng speech, beeps, silence, noise,
through G.711 as a call carries it): each kind of answer gets its verdict within bounds, the
undecided case ends as unknown at the total analysis time, and GreetingEnd lets the message
start after the beep, after the silence of a greeting without one, or at its bound."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from tests.support.amd_audio import (
    beep,
    db,
    human_answer,
    noisy_line,
    quiet_line,
    silence,
    to_line,
    voicemail,
)
from vestnik.calls.audio import Pcm
from vestnik.calls.options import AnsweredBy
from vestnik.config.settings import AmdConfig
from vestnik.telephony.listen.amd import FRAME_SAMPLES, GreetingEnd, MachineDetector, tone_of

CONFIG = AmdConfig()
GREETING = "Здравствуйте, вы позвонили Ивану Петрову. Оставьте сообщение после сигнала."


def frames(pcm: Pcm) -> list[Pcm]:
    return [pcm[i : i + FRAME_SAMPLES] for i in range(0, len(pcm) - FRAME_SAMPLES + 1, 160)]


def verdict_of(pcm: Pcm, config: AmdConfig = CONFIG) -> tuple[AnsweredBy, int]:
    """The verdict and the audio (ms) it took; the detector must decide within the sample."""
    detector = MachineDetector(config)
    for i, frame in enumerate(frames(pcm)):
        verdict = detector.feed(frame)
        if verdict is not None:
            assert detector.verdict is verdict
            return verdict, (i + 1) * 20
        assert detector.verdict is None
    raise AssertionError("no verdict within the sample")


def greeting_end_ms(pcm: Pcm, config: AmdConfig = CONFIG) -> int:
    ending = GreetingEnd(config)
    for i, frame in enumerate(frames(pcm)):
        if ending.feed(frame):
            return (i + 1) * 20
    raise AssertionError("the greeting never ended")


def rngs(seed: int) -> tuple[random.Random, np.random.Generator]:
    return random.Random(seed), np.random.default_rng(seed)


@pytest.mark.parametrize(
    ("text", "voice"),
    [("Алло?", "ru"), ("Да, слушаю", "ru+f2"), ("Алло, кто это?", "ru+m3")],
)
def test_a_short_answer_then_waiting_is_a_human(text: str, voice: str) -> None:
    signal, _ = human_answer(*rngs(1), voice, text, noisy=False)
    verdict, ms = verdict_of(to_line(signal, "PCMA"))
    assert verdict is AnsweredBy.HUMAN
    # The answer ends by 1.2 s + its length; the silence after it decides within ~0.8 s.
    assert ms <= 3500


def test_a_short_answer_over_background_noise_is_a_human() -> None:
    rnd, rng = rngs(7)
    signal, note = human_answer(rnd, rng, "ru", "Алло?", noisy=True)
    assert "noise" in note
    assert verdict_of(to_line(signal, "PCMU"))[0] is AnsweredBy.HUMAN


@pytest.mark.parametrize("with_beep", [True, False])
def test_a_voicemail_greeting_is_a_machine_before_it_ends(with_beep: bool) -> None:
    signal, end_ms, _ = voicemail(*rngs(3), "ru", GREETING, with_beep)
    verdict, ms = verdict_of(to_line(signal, "PCMA"))
    assert verdict is AnsweredBy.MACHINE
    assert ms < min(3000, end_ms)  # decided while the greeting still plays


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_silence_is_unknown_at_the_initial_silence(seed: int) -> None:
    signal, _ = quiet_line(*rngs(seed), 7000)
    verdict, ms = verdict_of(to_line(signal, "PCMA"))
    assert (verdict, ms) == (AnsweredBy.UNKNOWN, CONFIG.initial_silence_ms)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_steady_noise_is_not_taken_for_a_voice(seed: int) -> None:
    signal, note = noisy_line(*rngs(seed), 7000)
    verdict, ms = verdict_of(to_line(signal, "PCMU"))
    assert verdict is AnsweredBy.UNKNOWN, note
    assert ms <= CONFIG.total_analysis_ms


def test_without_the_noise_gate_loud_noise_is_one_long_greeting() -> None:
    """The gate is what tells noise from a voice: Asterisk's plain threshold calls it a machine."""
    noise = np.random.default_rng(5).standard_normal(8000 * 6) * db(-25)
    gateless = dataclasses.replace(CONFIG, noise_ratio=0.0)
    assert verdict_of(to_line(noise, "PCMA"), gateless)[0] is AnsweredBy.MACHINE
    assert verdict_of(to_line(noise, "PCMA"))[0] is AnsweredBy.UNKNOWN


def test_undecided_after_the_total_analysis_time_is_unknown_and_stays_so() -> None:
    # Words and pauses that trip no rule: 300 ms of voice, 400 ms of silence, over and over,
    # with the rules' limits out of reach.
    config = dataclasses.replace(
        CONFIG, greeting_ms=60000, max_words=1000, after_greeting_silence_ms=3000,
        max_word_length_ms=60000, total_analysis_ms=4000,
    )  # fmt: skip
    one = np.concatenate([np.random.default_rng(0).standard_normal(2400) * db(-15), silence(400)])
    pcm = to_line(np.tile(one, 10), "PCMA")
    verdict, ms = verdict_of(pcm, config)
    assert (verdict, ms) == (AnsweredBy.UNKNOWN, 4000)
    detector = MachineDetector(config)
    for frame in frames(pcm)[:199]:
        assert detector.feed(frame) is None
    assert detector.feed(frames(pcm)[199]) is AnsweredBy.UNKNOWN
    assert detector.reason == "total analysis time"
    assert detector.feed(frames(pcm)[0]) is AnsweredBy.UNKNOWN  # decided: it keeps its verdict


def test_a_steady_tone_in_the_beep_band_is_a_tone_and_speech_is_not() -> None:
    tone = to_line(beep(1000, 100, -15), "PCMA")
    assert tone_of(tone[:FRAME_SAMPLES]) == pytest.approx(1000, abs=10)
    assert tone_of(to_line(beep(200, 100, -15), "PCMA")[:FRAME_SAMPLES]) is None  # too low
    signal, _, _ = voicemail(*rngs(3), "ru", GREETING, with_beep=False)
    speech = to_line(signal, "PCMA")
    tonal = sum(1 for f in frames(speech) if tone_of(f) is not None)
    assert tonal <= 3  # a stray vowel frame at most, never a run


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_greeting_end_comes_just_after_the_beep(seed: int) -> None:
    signal, end_ms, note = voicemail(*rngs(seed), "ru+f2", GREETING, with_beep=True)
    at = greeting_end_ms(to_line(signal, "PCMU"))
    assert end_ms + CONFIG.beep_silence_ms - 20 <= at <= end_ms + CONFIG.beep_silence_ms + 60, note


def test_greeting_end_after_the_silence_of_a_greeting_without_a_beep() -> None:
    signal, end_ms, _ = voicemail(*rngs(8), "ru", GREETING, with_beep=False)
    at = greeting_end_ms(to_line(signal, "PCMA"))
    silence_ms = CONFIG.greeting_end_silence_ms
    assert end_ms + silence_ms - 100 <= at <= end_ms + silence_ms + 100


def test_greeting_end_is_bounded() -> None:
    # A greeting that never pauses (noise bursts, 300 ms on, 100 ms off) and never beeps.
    config = dataclasses.replace(CONFIG, max_greeting_wait_ms=3000)
    burst = np.concatenate([np.random.default_rng(1).standard_normal(2400) * db(-15), silence(100)])
    pcm = to_line(np.tile(burst, 20), "PCMA")
    ending = GreetingEnd(config)
    results = [ending.feed(frame) for frame in frames(pcm)[:150]]
    assert results.index(True) == 149  # the 150th frame: 3000 ms
    assert ending.reason == "maximum wait"
    default = GreetingEnd(CONFIG)  # with the default bound (20 s) it is still waiting
    assert not any(default.feed(frame) for frame in frames(pcm))
