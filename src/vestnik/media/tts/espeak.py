"""espeak-ng in-process through libespeak-ng (ctypes).

The library comes from the ``espeakng-loader`` wheel (libespeak-ng 1.52 with its data, so a
plain ``pip install`` works) or, failing that, from the system (Debian ``libespeak-ng1``).
libespeak-ng keeps global state (one voice, one callback, one output buffer): two threads
synthesising at once mix their audio or crash, so every call into it holds one process-wide
lock, and the library is loaded and initialised once per process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vestnik.media.tts.base import Speech, TtsError, language_of

# speak_lib.h
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
CHARS_UTF8 = 1
POS_CHARACTER = 1
EE_OK = 0
PARAM_RATE = 1  # words per minute
PARAM_PITCH = 3  # 0..100, 50 normal
CALLBACK_BUFFER_MS = 500

DEFAULT_RATE = 175
DEFAULT_PITCH = 50

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class _Library:
    lib: Any
    sample_rate: int
    version: str
    path: str


_lock = threading.Lock()  # guards every call into libespeak-ng and the fields below
_library: _Library | None = None
_chunks: list[bytes] = []


def _collect_chunk(wav: Any, numsamples: int, _events: Any) -> int:
    # Called by the library on the synthesising thread, which holds ``_lock``.
    if numsamples > 0 and wav:
        _chunks.append(ctypes.string_at(wav, numsamples * 2))
    return 0  # 0 = continue


_collect = _SynthCallback(_collect_chunk)


def _candidates() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    try:
        import espeakng_loader

        found.append((espeakng_loader.get_library_path(), espeakng_loader.get_data_path()))
    except (ImportError, RuntimeError):
        pass
    system = ctypes.util.find_library("espeak-ng")
    if system:
        found.append((system, None))  # the library's compiled-in data path
    return found


def _load() -> _Library:
    """Load and initialise libespeak-ng once; caller holds ``_lock``."""
    global _library
    if _library is not None:
        return _library
    errors: list[str] = []
    for path, data in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
            continue
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        data_arg = data.encode() if data else None
        rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, CALLBACK_BUFFER_MS, data_arg, INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            errors.append(f"{path}: espeak_Initialize failed ({rate}), data {data}")
            continue
        lib.espeak_SetSynthCallback(_collect)
        version = (lib.espeak_Info(None) or b"unknown").decode()
        _library = _Library(lib=lib, sample_rate=rate, version=version, path=path)
        return _library
    raise TtsError("libespeak-ng not available: " + ("; ".join(errors) or "not found"))


class EspeakEngine:
    """espeak-ng voice ``voice`` (e.g. ``ru``) at ``rate`` words/minute and ``pitch`` 0–100."""

    def __init__(
        self, voice: str = "ru", rate: int = DEFAULT_RATE, pitch: int = DEFAULT_PITCH
    ) -> None:
        self._voice = voice
        self._rate = rate
        self._pitch = pitch
        with _lock:
            self._library = _load()
            # Fail now, not at the first call, on an unknown voice.
            self._select_voice()

    @property
    def name(self) -> str:
        return "espeak-ng"

    @property
    def version(self) -> str:
        return self._library.version

    @property
    def voice(self) -> str:
        return self._voice

    @property
    def language(self) -> str:
        return language_of(self._voice)

    @property
    def params(self) -> Mapping[str, object]:
        return {"rate": self._rate, "pitch": self._pitch}

    @property
    def library_path(self) -> str:
        return self._library.path

    def _select_voice(self) -> None:
        lib = self._library.lib
        if lib.espeak_SetVoiceByName(self._voice.encode()) != EE_OK:
            raise TtsError(f"espeak-ng has no voice {self._voice!r}")
        lib.espeak_SetParameter(PARAM_RATE, self._rate, 0)
        lib.espeak_SetParameter(PARAM_PITCH, self._pitch, 0)

    def synthesize(self, text: str) -> Speech:
        # A NUL would end the C string early; lone surrogates cannot be encoded at all.
        encoded = text.replace("\x00", " ").encode("utf-8", errors="replace")
        with _lock:
            lib = self._library.lib
            # The voice is global state too: another engine may have changed it.
            self._select_voice()
            _chunks.clear()
            try:
                status = lib.espeak_Synth(
                    encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None
                )
                if status != EE_OK:
                    raise TtsError(f"espeak_Synth failed with status {status}")
                lib.espeak_Synchronize()
                raw = b"".join(_chunks)
            finally:
                _chunks.clear()
        samples = np.frombuffer(raw, dtype="<i2").astype(np.int16)
        return Speech(samples=samples, sample_rate=self._library.sample_rate)


def library_info() -> tuple[str, str]:
    """(library path, version) of the libespeak-ng in use, loading it if needed."""
    with _lock:
        lib = _load()
    return lib.path, lib.version
