"""piper (VITS, ONNX) with a voice model the operator supplies.

``model`` is the ``.onnx`` file; its ``.onnx.json`` config must sit beside it. piper is an
optional dependency (``pip install vestnik[piper]``) and is imported only when selected.
piper scales each sentence to full range, which clips slightly after resampling; the renderer
level-normalises every message anyway, so we ask piper not to (``normalize_audio=False``) and
keep its natural dynamics.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from vestnik.media.tts.base import Speech, TtsError, language_of

SENTENCE_GAP_SECONDS = 0.25


class PiperEngine:
    def __init__(self, model: str | Path, *, length_scale: float | None = None) -> None:
        self._model = Path(model)
        config = self._model.with_name(self._model.name + ".json")
        if not self._model.is_file():
            raise TtsError(f"piper model not found: {self._model}")
        if not config.is_file():
            raise TtsError(f"piper model config not found: {config} (expected beside the model)")
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as exc:
            raise TtsError("piper is not installed (pip install 'vestnik[piper]')") from exc
        try:
            self._piper = PiperVoice.load(self._model, config_path=config)
        except Exception as exc:  # onnxruntime / json errors: any of them means a bad model
            raise TtsError(f"cannot load piper model {self._model}: {exc}") from exc
        self._syn_config = SynthesisConfig(length_scale=length_scale, normalize_audio=False)
        self._length_scale = length_scale
        self._version = metadata.version("piper-tts")
        # The model's identity for the cache key: its name and a digest of its config and size
        # (hashing a 60 MB model at every start would be slow).
        digest = hashlib.sha256(config.read_bytes())
        digest.update(str(self._model.stat().st_size).encode())
        self._voice = f"{self._model.stem}:{digest.hexdigest()[:16]}"
        # onnxruntime sessions are thread-safe; piper guards its own phonemizer; this lock
        # keeps one synthesis at a time so two calls do not fight for the same cores.
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "piper"

    @property
    def version(self) -> str:
        return self._version

    @property
    def voice(self) -> str:
        return self._voice

    @property
    def language(self) -> str:
        return language_of(str(self._piper.config.espeak_voice))

    @property
    def params(self) -> Mapping[str, object]:
        return {"length_scale": self._length_scale}

    @property
    def sample_rate(self) -> int:
        return int(self._piper.config.sample_rate)

    def synthesize(self, text: str) -> Speech:
        rate = self.sample_rate
        gap = np.zeros(int(rate * SENTENCE_GAP_SECONDS), dtype=np.float32)
        parts: list[Any] = []
        try:
            with self._lock:
                for chunk in self._piper.synthesize(text, syn_config=self._syn_config):
                    if parts:
                        parts.append(gap)
                    parts.append(np.asarray(chunk.audio_float_array, dtype=np.float32))
        except Exception as exc:
            raise TtsError(f"piper failed: {exc}") from exc
        if not parts:
            return Speech(samples=np.zeros(0, dtype=np.int16), sample_rate=rate)
        audio = np.concatenate(parts)
        # Keep headroom: scale down only if the raw output exceeds full scale.
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > 1.0:
            audio = audio / peak
        samples = np.round(audio * 32767.0).astype(np.int16)
        return Speech(samples=samples, sample_rate=rate)
