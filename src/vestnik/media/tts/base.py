"""The interface every TTS engine implements."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


class TtsError(Exception):
    """The engine could not be loaded or could not synthesise the text."""


@dataclass(frozen=True)
class Speech:
    """Raw engine output: mono int16 samples at the engine's own rate."""

    samples: npt.NDArray[np.int16]
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.samples.size / self.sample_rate


class TtsEngine(Protocol):
    """A speech synthesiser. ``synthesize`` is blocking and safe to call from any thread."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def voice(self) -> str: ...

    @property
    def language(self) -> str:
        """ISO 639-1 code of what the voice speaks (``ru``, ``en``): picks the normaliser."""
        ...

    @property
    def params(self) -> Mapping[str, object]:
        """Anything besides engine, version and voice that changes the audio (cache key)."""
        ...

    def synthesize(self, text: str) -> Speech: ...


def language_of(voice: str) -> str:
    """``ru`` from ``ru``, ``en`` from ``en-us`` / ``en_US`` / ``en+f3``."""
    match = re.match(r"[a-zA-Z]+", voice)
    return match.group(0).lower() if match else ""
