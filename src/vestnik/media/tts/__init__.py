"""Text-to-speech: engines behind one interface, Russian normalisation, the on-disk cache."""

from __future__ import annotations

import functools
import glob
import logging
import shutil
from pathlib import Path

from vestnik.config import TtsConfig
from vestnik.media.tts.base import Speech, TtsEngine, TtsError

log = logging.getLogger(__name__)

ENGINES = ("espeak", "festival", "piper")
# What ``engine = "auto"`` prefers: the most intelligible installed engine (docs/benchmarks.md,
# "Voice intelligibility"), then the one that always works (espeak-ng comes from pip).
AUTO_PREFERENCE = "festival"
AUTO_FALLBACK = "espeak"
DEFAULT_FESTIVAL_VOICE = TtsConfig.festival_voice  # the setting's default, one place


# Where Debian (and a source install) put festival's voices: ``<dir>/<language>/<voice>``.
FESTIVAL_VOICE_DIRS = ("/usr/share/festival/voices", "/usr/local/share/festival/voices",
                       "/usr/lib/festival/voices")  # fmt: skip


def festival_voice_installed(voice: str) -> bool:
    pattern = f"*/{glob.escape(voice)}"
    return any(next(Path(d).glob(pattern), None) is not None for d in FESTIVAL_VOICE_DIRS)


@functools.cache
def auto_engine(festival_voice: str = DEFAULT_FESTIVAL_VOICE) -> str:
    """The engine ``auto`` stands for here; the fallback is warned about once per process."""
    if shutil.which("festival") is None:
        missing = "festival is not installed"
    elif not festival_voice_installed(festival_voice):
        missing = f"festival's voice {festival_voice} (festvox-ru) is not installed"
    else:
        return AUTO_PREFERENCE
    log.warning(
        "tts: %s: messages are spoken by espeak-ng, which callers understand far worse "
        "(install the Debian packages festival and festvox-ru, or set [tts] engine = "
        '"espeak" to silence this warning)',
        missing,
    )
    return AUTO_FALLBACK


def engine_name(name: str, festival_voice: str = DEFAULT_FESTIVAL_VOICE) -> str:
    """A configured engine name with ``auto`` resolved."""
    return auto_engine(festival_voice) if name == "auto" else name


def create_tts_engine(config: TtsConfig, name: str | None = None) -> TtsEngine:
    """The engine ``name`` (default: ``config.engine``), loaded and ready; TtsError when it is
    unknown or its package or voice is missing."""
    name = engine_name(name or config.engine, config.festival_voice)
    if name == "espeak":
        from vestnik.media.tts.espeak import EspeakEngine

        return EspeakEngine(voice=config.voice or "ru")
    if name == "festival":
        from vestnik.media.tts.festival import FestivalEngine

        return FestivalEngine(config.festival_voice, processes=config.festival_processes)
    if name == "piper":
        if not config.piper_model:
            raise TtsError("tts.engine is piper but tts.piper_model is not set")
        from vestnik.media.tts.piper import PiperEngine

        return PiperEngine(config.piper_model)
    raise TtsError(f"unknown tts.engine {name!r} (known: auto, {', '.join(ENGINES)})")


__all__ = [
    "ENGINES",
    "Speech",
    "TtsEngine",
    "TtsError",
    "auto_engine",
    "create_tts_engine",
    "engine_name",
]
