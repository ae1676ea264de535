"""festival with the Russian festvox-ru voice: real synthesis through long-lived processes, the
pass that makes any normalised text sayable, bounded time, clear errors."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.speech import assert_speech_like
from vestnik.config import TtsConfig
from vestnik.media.level import conform
from vestnik.media.tts import auto_engine, create_tts_engine, engine_name
from vestnik.media.tts.base import TtsError
from vestnik.media.tts.festival import FestivalEngine, speakable
from vestnik.media.tts.normalize import normalize_russian

ISSUE_SENTENCE = (
    "Здравствуйте! Ваш заказ номер 1042 на сумму 1500 рублей готов к выдаче сегодня до 18:30."
)


@pytest.fixture(scope="module")
def festival() -> Iterator[FestivalEngine]:
    engine = FestivalEngine()
    yield engine
    engine.close()


def say(engine: FestivalEngine, text: str) -> np.ndarray:
    """``text`` as a call sends it: normalised, synthesised, conformed to 8 kHz."""
    speech = engine.synthesize(normalize_russian(text))
    return conform(speech.samples, speech.sample_rate)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("в 14:30", "в четырнадцать, тридцать"),  # festival alone says nothing of "14:30"
        ("а4 и 15", "а четыре и пятнадцать"),
        ("№ 7, 100%", "номер семь, сто процентов"),
        ("«Ромашка» — магазин", "Ромашка, магазин"),
        ("а/б @ #", "а б собака решётка"),
        ("да?! нет… (может)", "да? нет, может"),
        ("e-mail;ок", "e-mail, ок"),
        ("а.б,в", "а. б, в"),
        ("🙂 привет", "привет"),
        ("-- ъ ...", ""),
        ("отме+на, зака+за", "отме+на, зака+за"),  # festival's stress mark, after the vowel
        ("а+б 2+2 +7", "а плюс б два плюс два плюс семь"),
        ("x\x00y", "x y"),
        ("", ""),
    ],
)
def test_speakable_leaves_only_what_festival_reads(text: str, expected: str) -> None:
    assert speakable(text) == expected


def test_numbers_times_and_symbols_are_spoken(festival: FestivalEngine) -> None:
    assert_speech_like(say(festival, "Код 4827, в очереди 12 человек."), 8000, 2.5, 8.0)
    assert_speech_like(say(festival, "Приём в 14:30."), 8000, 1.5, 5.0)
    assert_speech_like(say(festival, "Заказ № 15 оплачен на 100%."), 8000, 2.0, 7.0)


def test_latin_letters_are_spoken(festival: FestivalEngine) -> None:
    assert_speech_like(say(festival, "Ваш iPhone готов, код SMS 12."), 8000, 2.0, 7.0)


def test_the_issue_sentence_is_speech(festival: FestivalEngine) -> None:
    pcm = say(festival, ISSUE_SENTENCE)
    assert_speech_like(pcm, 8000, 7.0, 14.0)


def test_long_text_is_spoken_within_its_time(festival: FestivalEngine) -> None:
    text = " ".join(f"Пункт {i}: заказ номер {1000 + i} готов к выдаче." for i in range(60))
    assert len(text) > 2500
    pcm = say(festival, text)
    assert_speech_like(pcm, 8000, 120.0, 400.0)


def test_text_with_nothing_to_say_is_a_clear_error(festival: FestivalEngine) -> None:
    for text in ("...", "ъ ь", "🙂🙂", "—"):
        with pytest.raises(TtsError, match="nothing festival can say"):
            festival.synthesize(normalize_russian(text))


def test_any_text_renders_or_fails_clearly(festival: FestivalEngine) -> None:
    """Random text from the whole Basic Multilingual Plane's first part mixed with Russian:
    each either gives audio or the 'nothing to say' error, and never hangs."""
    rng = random.Random(14)
    alphabet = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя АБВ ,.-!?:;()«»—/%№@0123456789"
    for _ in range(200):
        text = "".join(
            chr(rng.randint(32, 0x2FFF)) if rng.random() < 0.3 else rng.choice(alphabet)
            for _ in range(rng.randint(1, 40))
        )
        try:
            speech = festival.synthesize(normalize_russian(text))
        except TtsError as exc:
            assert "nothing festival can say" in str(exc), (text, exc)
        else:
            assert speech.samples.size > 0 and speech.sample_rate == 16000, text


def test_concurrent_syntheses_each_get_their_own_audio(festival: FestivalEngine) -> None:
    texts = ["да", "нет", "подтверждаю", "отмена", "Здравствуйте, это тест."]
    serial = {t: festival.synthesize(t).samples for t in texts}
    results: list[tuple[str, np.ndarray]] = []
    errors: list[BaseException] = []

    def work(text: str) -> None:
        try:
            results.append((text, festival.synthesize(text).samples))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 15
    for text, samples in results:
        assert np.array_equal(samples, serial[text]), text  # festival is deterministic


def test_a_synthesis_past_its_timeout_fails_and_the_next_one_works() -> None:
    engine = FestivalEngine(processes=1, timeout=0.05)
    try:
        with pytest.raises(TtsError, match="did not answer within"):
            engine.synthesize("Длинный текст для проверки времени. " * 40)
        engine._timeout = 30.0  # the killed process is replaced by a new one
        assert engine.synthesize("да").samples.size > 0
    finally:
        engine.close()


def test_unknown_voice_and_missing_festival_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(TtsError, match="no voice 'kal_diphone_xx'"):
        FestivalEngine("kal_diphone_xx")
    with pytest.raises(TtsError, match="not a voice name"):
        FestivalEngine('x") (system "id')
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TtsError, match=r"festival is not installed .*festvox-ru"):
        FestivalEngine()


def test_engine_from_config() -> None:
    engine = create_tts_engine(TtsConfig(engine="festival", festival_processes=1))
    try:
        assert (engine.name, engine.voice, engine.language) == (
            "festival", "msu_ru_nsh_clunits", "ru",
        )  # fmt: skip
        assert engine.version.count(".") >= 1
    finally:
        engine.close()  # type: ignore[attr-defined]


def test_auto_is_festival_here_and_espeak_without_it_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert engine_name("auto") == "festival"  # CI and this machine have festival installed
    monkeypatch.setenv("PATH", str(tmp_path))
    auto_engine.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="vestnik.media.tts"):
            assert engine_name("auto") == "espeak"
            assert engine_name("auto") == "espeak"
            assert engine_name("festival") == "festival"  # named: used, or fails when loaded
        warnings = [r for r in caplog.records if "festival is not installed" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        auto_engine.cache_clear()


def test_auto_without_the_russian_voice_is_espeak(caplog: pytest.LogCaptureFixture) -> None:
    auto_engine.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="vestnik.media.tts"):
            assert engine_name("auto", "no_such_voice_clunits") == "espeak"
        assert "voice no_such_voice_clunits (festvox-ru) is not installed" in caplog.text
        assert engine_name("auto") == "festival"
    finally:
        auto_engine.cache_clear()
