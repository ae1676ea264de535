"""WhisperRecognizer with the real model: festival-made replies through G.711 A-law give the
right intent; a full pool answers None at once; a late or failed recognition answers None;
each outcome is counted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vestnik.calls.audio import Pcm
from vestnik.calls.intents import match_intent
from vestnik.config import Config, SpeechConfig
from vestnik.media.level import conform
from vestnik.media.tts.festival import FestivalEngine
from vestnik.metrics import REGISTRY
from vestnik.speech import create_recognizer, unavailable_reason
from vestnik.speech.recognizer import WhisperRecognizer
from vestnik.telephony.rtp.g711 import PCMA

INTENTS = (("yes", ("да", "подтверждаю")), ("no", ("нет", "отмена")))


def counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value("vestnik_speech_recognitions_total", {"outcome": outcome})
    return value or 0.0


@pytest.fixture(scope="module")
def replies() -> Iterator[dict[str, Pcm]]:
    """Replies as a callee's phone sends them: festival, 8 kHz, A-law there and back."""
    festival = FestivalEngine(processes=1)
    out = {}
    for text in ("да", "нет", "отме+на", "Да, подтверждаю, спасибо большое, всё верно."):
        speech = festival.synthesize(text)
        pcm = conform(speech.samples, speech.sample_rate)
        out[text] = PCMA.decode(PCMA.encode(pcm))
    festival.close()
    yield out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech") / "model"


def recognizer(model_dir: Path, **settings: object) -> WhisperRecognizer:
    config = SpeechConfig(model_dir=str(model_dir), **settings)  # type: ignore[arg-type]
    return WhisperRecognizer(config, model_dir.parent)


@pytest.fixture(scope="module")
def asr(model_dir: Path) -> Iterator[WhisperRecognizer]:
    r = recognizer(model_dir, workers=1, queue=0)
    r.load()
    yield r
    r.close()


async def test_festival_yes_and_no_over_g711_give_their_intents(
    asr: WhisperRecognizer, replies: dict[str, Pcm]
) -> None:
    before = counted("recognised")
    yes = await asr.recognize(replies["да"], "ru")
    no = await asr.recognize(replies["нет"], "ru")
    assert yes is not None and no is not None
    assert match_intent(yes, INTENTS) == "yes", yes
    assert match_intent(no, INTENTS) == "no", no
    # festival stresses "отмена" on its first syllable, and Whisper then hears "Хотя меня,
    # да?" (a "yes"!); with the stress marked, the word is heard (docs/media.md).
    cancel = await asr.recognize(replies["отме+на"], "ru")
    assert cancel is not None and match_intent(cancel, INTENTS) == "no", cancel
    assert counted("recognised") == before + 3


async def test_silence_is_an_empty_reply(asr: WhisperRecognizer) -> None:
    assert await asr.recognize(np.zeros(16_000, dtype=np.int16), "ru") == ""
    assert await asr.recognize(np.zeros(0, dtype=np.int16), "ru") == ""


async def test_a_full_pool_answers_none_at_once(
    asr: WhisperRecognizer, replies: dict[str, Pcm]
) -> None:
    """workers=1, queue=0: the second of two concurrent replies is not waited for."""
    before = counted("saturated")
    sentence = replies["Да, подтверждаю, спасибо большое, всё верно."]
    first = asyncio.create_task(asr.recognize(sentence, "ru"))
    await asyncio.sleep(0)  # the first one holds the only slot
    t0 = time.perf_counter()
    second = await asr.recognize(replies["нет"], "ru")
    waited = time.perf_counter() - t0
    assert second is None and waited < 0.05, waited
    assert not first.done()  # still being recognised: the refusal did not wait for it
    text = await first
    assert text is not None and match_intent(text, INTENTS) == "yes", text
    assert counted("saturated") == before + 1
    # The slot is back: the next reply is recognised.
    assert await asr.recognize(replies["нет"], "ru") is not None


class Blocked(WhisperRecognizer):
    """A recogniser whose recognitions wait for ``release`` (the pool's part under test)."""

    def __init__(self, config: SpeechConfig, data_dir: Path) -> None:
        super().__init__(config, data_dir)
        self.release = threading.Event()

    def transcribe(self, pcm: Pcm, language: str) -> str:
        assert self.release.wait(30)
        return "да"


async def test_a_recognition_past_its_timeout_answers_none(tmp_path: Path) -> None:
    config = SpeechConfig(workers=1, queue=1, recognition_timeout_seconds=0.5)
    r = Blocked(config, tmp_path)
    before = counted("timeout")
    t0 = time.perf_counter()
    assert await r.recognize(np.ones(800, dtype=np.int16), "ru") is None
    assert 0.5 <= time.perf_counter() - t0 < 2.0
    assert counted("timeout") == before + 1
    # The late work still holds its slot until it ends: the queue place is the only one left.
    waiting = asyncio.create_task(r.recognize(np.ones(800, dtype=np.int16), "ru"))
    await asyncio.sleep(0)
    assert await r.recognize(np.ones(800, dtype=np.int16), "ru") is None  # saturated
    r.release.set()
    assert await waiting == "да"
    r.close()


async def test_a_model_that_cannot_load_answers_none_counted_failed(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = WhisperRecognizer(SpeechConfig(model_dir=str(blocker / "model")), tmp_path)
    before = counted("failed")
    assert await r.recognize(np.ones(800, dtype=np.int16), "ru") is None
    assert counted("failed") == before + 1
    r.close()


async def test_after_close_replies_are_not_recognised(tmp_path: Path) -> None:
    r = Blocked(SpeechConfig(), tmp_path)
    r.close()
    assert await r.recognize(np.ones(800, dtype=np.int16), "ru") is None


def test_unavailable_reason_and_the_recogniser_from_config(tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path))
    assert unavailable_reason(config) is None  # the extra is installed here, as in CI
    r = create_recognizer(config)
    assert r.model_dir == tmp_path / "speech-model"
    r.close()
    config.speech.enabled = False
    reason = unavailable_reason(config)
    assert reason is not None and "[speech] enabled = false" in reason
