"""espeak-ng through libespeak-ng in-process: real synthesis, Russian voice, thread safety."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
import threading

import numpy as np
import pytest

from tests.support.speech import assert_speech_like, frame_energies
from vestnik.config import TtsConfig
from vestnik.media.tts import TtsError, create_tts_engine
from vestnik.media.tts.espeak import EspeakEngine, library_info

PHRASES = [
    "Здравствуйте! Это тестовое сообщение.",
    "Ваш заказ номер пятнадцать доставят завтра.",
    "Сумма к оплате одна тысяча пятьсот рублей.",
    "До свидания.",
]


@pytest.fixture(scope="module")
def ru() -> EspeakEngine:
    return EspeakEngine("ru")


def test_library_comes_from_the_wheel_with_russian_data() -> None:
    path, version = library_info()
    assert "espeakng_loader" in path  # the pip-installed library, not a system package
    assert version.startswith("1.52")


def test_russian_phrase_is_speech(ru: EspeakEngine) -> None:
    speech = ru.synthesize(PHRASES[0])
    assert speech.sample_rate == 22_050
    assert_speech_like(speech.samples, speech.sample_rate, 1.2, 4.0)


def test_russian_voice_reads_cyrillic_as_words(ru: EspeakEngine) -> None:
    # A voice without Russian rules spells Cyrillic letter by letter: several times longer.
    en = EspeakEngine("en")
    word = "Здравствуйте"
    assert ru.synthesize(word).duration * 2.5 < en.synthesize(word).duration
    # And the Russian engine still speaks Russian after another voice was used (global state).
    assert ru.synthesize(word).duration < 1.2


def test_longer_text_gives_longer_audio(ru: EspeakEngine) -> None:
    short = ru.synthesize("Добрый день.").duration
    long = ru.synthesize("Добрый день. " * 6).duration
    assert 4 * short < long < 10 * short  # sentence pauses add to the repeats


def same_speech(a: np.ndarray, b: np.ndarray) -> bool:
    """Same utterance: espeak-ng carries a little state between calls (pitch flutter, pauses),
    so repeated output differs by a few milliseconds; it is never bit-identical. Two different
    phrases, or a mix of two, differ in length by far more than 2 % or in energy envelope."""
    if abs(a.size - b.size) > 0.02 * max(a.size, b.size):
        return False
    n = min(a.size, b.size)
    ea, eb = frame_energies(a[:n], 22_050), frame_energies(b[:n], 22_050)
    return float(np.corrcoef(ea, eb)[0, 1]) > 0.9


def test_repeated_synthesis_is_the_same_speech(ru: EspeakEngine) -> None:
    a = ru.synthesize(PHRASES[1]).samples
    b = ru.synthesize(PHRASES[1]).samples
    assert same_speech(a, b)
    # The comparison tells phrases apart (it would catch mixed-up output).
    for other in (PHRASES[0], PHRASES[2]):
        assert not same_speech(a, ru.synthesize(other).samples)
    mixed = np.concatenate([a[: a.size // 2], ru.synthesize(PHRASES[2]).samples[: a.size // 2]])
    assert not same_speech(a, mixed)


def test_concurrent_synthesis_matches_serial(ru: EspeakEngine) -> None:
    serial = {text: ru.synthesize(text).samples for text in PHRASES}
    results: list[tuple[str, np.ndarray]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(offset: int) -> None:
        try:
            start.wait()
            for i in range(6):
                text = PHRASES[(offset + i) % len(PHRASES)]
                samples = ru.synthesize(text).samples
                with lock:
                    results.append((text, samples))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(results) == 24
    for text, samples in results:
        assert same_speech(samples, serial[text]), text


def test_unknown_voice_is_refused() -> None:
    with pytest.raises(TtsError, match="no voice"):
        EspeakEngine("xx-no-such-voice")


def test_engine_from_config() -> None:
    engine = create_tts_engine(TtsConfig(engine="espeak", voice="ru"))
    assert (engine.name, engine.voice) == ("espeak-ng", "ru")
    with pytest.raises(TtsError, match=r"unknown tts\.engine"):
        create_tts_engine(TtsConfig(engine="rhvoice"))
    with pytest.raises(TtsError, match="piper_model"):
        create_tts_engine(TtsConfig(engine="piper", piper_model=""))


@pytest.mark.skipif(
    ctypes.util.find_library("espeak-ng") is None,
    reason="no system libespeak-ng (Debian package libespeak-ng1) to fall back to",
)
def test_falls_back_to_the_system_library_without_the_wheel() -> None:
    # libespeak-ng is loaded once per process, so the fallback runs in a fresh interpreter
    # in which the espeakng_loader wheel cannot be imported.
    code = (
        "import sys; sys.modules['espeakng_loader'] = None\n"
        "from vestnik.media.tts.espeak import EspeakEngine\n"
        "e = EspeakEngine('ru')\n"
        "print(e.library_path, e.version, round(e.synthesize('Здравствуйте').duration, 2))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "espeakng_loader" not in out[0]
    assert 0.3 < float(out[2]) < 1.5  # Russian rules: a word, not letter names


def test_language_follows_the_voice() -> None:
    assert EspeakEngine("ru").language == "ru"
    assert EspeakEngine("en-us").language == "en"


def test_hostile_text_does_not_break_the_engine(ru: EspeakEngine) -> None:
    for text in ["\x00", "до\x00свидания", "<speak>привет</speak>", "[[a]]", "\ud800", "😀" * 50]:
        ru.synthesize(text)
    assert ru.synthesize("Привет").duration > 0.2
