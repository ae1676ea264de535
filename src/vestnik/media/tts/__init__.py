"""Text-to-speech: engines behind one interface, Russian normalisation, the on-disk cache."""

from __future__ import annotations

from vestnik.config import TtsConfig
from vestnik.media.tts.base import Speech, TtsEngine, TtsError

ENGINES = ("espeak", "piper")


def create_tts_engine(config: TtsConfig) -> TtsEngine:
    """The engine ``config.engine`` names (``espeak`` or ``piper``), loaded and ready."""
    if config.engine == "espeak":
        from vestnik.media.tts.espeak import EspeakEngine

        return EspeakEngine(voice=config.voice or "ru")
    if config.engine == "piper":
        if not config.piper_model:
            raise TtsError("tts.engine is piper but tts.piper_model is not set")
        from vestnik.media.tts.piper import PiperEngine

        return PiperEngine(config.piper_model)
    raise TtsError(f"unknown tts.engine {config.engine!r} (known: {', '.join(ENGINES)})")


__all__ = ["ENGINES", "Speech", "TtsEngine", "TtsError", "create_tts_engine"]
