"""Bounded on-disk cache of rendered TTS messages (8 kHz int16 PCM).

One file per message, named by a SHA-256 of everything that changes the audio: engine, engine
version, voice, engine params, the rendering pipeline version and the normalised text. Files are
written to a temporary name and renamed into place, so a crash never leaves a torn entry and
several processes may share the directory. A hit refreshes the file's mtime; when the directory
grows past its bound the least recently used entries are deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vestnik.calls.audio import Pcm

log = logging.getLogger(__name__)

# Bump when the rendering pipeline (resampler, level targets) changes: old entries stop matching.
PIPELINE_VERSION = "pcm8k-s16le-v1"
SUFFIX = ".pcm"
EVICT_TO_FRACTION = 0.9  # evict down to 90 % of the bound, so not every put evicts


def cache_key(
    engine: str, version: str, voice: str, params: Mapping[str, object], text: str
) -> str:
    blob = json.dumps(
        {
            "pipeline": PIPELINE_VERSION,
            "engine": engine,
            "version": version,
            "voice": voice,
            "params": dict(params),
            "text": text,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class TtsCache:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes on disk, learnt lazily by one scan

    def path_for(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def get(self, key: str) -> Pcm | None:
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("tts cache read failed for %s: %s", path, exc)
            return None
        # LRU: a hit is a use. (If another process evicted it meanwhile, what we read is whole.)
        with contextlib.suppress(OSError):
            os.utime(path)
        if len(data) % 2:
            return None  # cannot happen with atomic writes; never play a damaged entry
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def put(self, key: str, pcm: Pcm) -> None:
        if self.max_bytes <= 0:
            return
        data = np.ascontiguousarray(pcm, dtype="<i2").tobytes()
        if len(data) > self.max_bytes:
            return  # would evict everything and still not fit
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.path_for(key)
        tmp = self.directory / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, final)
        except OSError as exc:
            log.warning("tts cache write failed for %s: %s", final, exc)
            tmp.unlink(missing_ok=True)
            return
        with self._lock:
            if self._size is None:
                self._size = self._scan_size()
            else:
                self._size += len(data)
            if self._size > self.max_bytes:
                self._evict()

    def _entries(self) -> list[tuple[float, int, Path]]:
        entries: list[tuple[float, int, Path]] = []
        try:
            listing = list(os.scandir(self.directory))
        except FileNotFoundError:
            return entries
        for item in listing:
            if not item.name.endswith(SUFFIX):
                continue
            try:
                st = item.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, st.st_size, Path(item.path)))
        return entries

    def _scan_size(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _evict(self) -> None:
        """Delete least recently used entries down to the low-water mark; holds ``_lock``."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        target = int(self.max_bytes * EVICT_TO_FRACTION)
        for _, size, path in entries:
            if total <= target:
                break
            with contextlib.suppress(FileNotFoundError):  # another process got there first
                path.unlink()
            total -= size
        self._size = total

    def size_bytes(self) -> int:
        return self._scan_size()
