"""Message audio shared through the database; each node's files are a cache of it.

Every media file's message PCM (8 kHz mono s16le, ~0.94 MB a minute) is stored in
``media_audio`` in the import's transaction, so any node on the database can play a file that
another node imported. The ``pcm_path`` file under a node's ``<data_dir>/media/`` is that
node's cache: used when its length and SHA-256 match the database's, else fetched from the
database, written atomically (temporary file, then rename) and played.

Rows made before ``media_audio`` existed get their audio from the first node that holds the
file (:func:`copy_local_audio`, at every ``serve`` start). A row whose file is on no node has
no audio anywhere: its calls end ``internal_error`` with the renderer's "message render
failed: media file N: …" detail.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.calls.ports import RenderError
from vestnik.media.audiofile import resolve_media_path, write_atomic
from vestnik.store.db import Engine
from vestnik.store.media import (
    MediaPcm,
    get_media_file,
    media_without_audio,
    pcm_digest,
    store_audio,
    stored_audio,
)

log = logging.getLogger(__name__)

BYTES_PER_SAMPLE = 2


def as_pcm(data: bytes) -> Pcm:
    """Stored message audio (s16le bytes) as an int16 array."""
    return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def cached_audio(path: Path, row: MediaPcm) -> bytes | None:
    """The node's cache file of ``row`` when it holds exactly the database's audio."""
    if not row.in_database:
        return None
    try:
        if path.stat().st_size != row.pcm_bytes:  # cheap first: no read of a wrong file
            return None
    except OSError:
        return None
    data = _read(path)
    return data if data is not None and pcm_digest(data) == row.pcm_sha256 else None


def plausible_local_audio(data: bytes | None, duration_ms: int) -> bool:
    """A file of a row with no database copy: whole samples, as long as the row says
    (within a few samples of rounding)."""
    if not data or len(data) % BYTES_PER_SAMPLE:
        return False
    samples = len(data) // BYTES_PER_SAMPLE
    return abs(samples - duration_ms * SAMPLE_RATE / 1000) <= SAMPLE_RATE / 1000


def load_media_audio(engine: Engine, data_dir: Path, media_id: int, row: MediaPcm) -> Pcm:
    """The message audio of media file ``media_id`` (its row ``row``, owner already checked):
    from this node's cache, else from the database (then cached). Blocking: call it in a
    worker thread. Raises :class:`RenderError` when no audio can be had."""
    path = resolve_media_path(data_dir, row.pcm_path)
    data = cached_audio(path, row)
    if data is None and row.in_database:
        with engine.connect() as conn:
            data = stored_audio(conn, media_id)
        if data is None:  # its audio was deleted since the lookup (the file was removed)
            raise RenderError(f"media file {media_id}: its audio is gone (removed)")
        if path.resolve().is_relative_to(Path(data_dir).resolve()):  # never write elsewhere
            _cache(path, data, media_id)
    if data is None:  # a row from before media_audio, whose file no node copied in
        data = _read(path)
        if not data:
            raise RenderError(
                f"media file {media_id}: its audio is not in the database and {path} is "
                "missing or empty on this node"
            )
    if len(data) % BYTES_PER_SAMPLE:
        raise RenderError(f"media file {media_id}: {path} is not whole 16-bit samples")
    return as_pcm(data)


def _cache(path: Path, data: bytes, media_id: int) -> None:
    """Write the node's cache file; a failure costs only the next read from the database."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        log.warning("media file %d: cannot cache its audio in %s: %s", media_id, path, exc)


def copy_local_audio(engine: Engine, data_dir: Path) -> int:
    """Store in the database the audio of rows that have none yet, from this node's files;
    how many were stored. One transaction per file (a file is at most
    ``[media] max_duration_seconds`` of audio); a file another node stored first is left."""
    with engine.connect() as conn:
        missing = media_without_audio(conn)
    stored = 0
    for media_id, pcm_path in missing:
        path = resolve_media_path(data_dir, pcm_path)
        data = _read(path)
        if data is None:
            continue  # not on this node: perhaps on another
        with engine.begin() as conn:
            duration_ms = int(get_media_file(conn, media_id)["duration_ms"])
            if not plausible_local_audio(data, duration_ms):
                log.warning(
                    "media file %d: %s does not hold its %d ms of audio: not stored",
                    media_id,
                    path,
                    duration_ms,
                )
                continue
            stored += store_audio(conn, media_id, data, replace=False)
    if stored:
        log.info("stored the audio of %d media files from %s in the database", stored, data_dir)
    remaining = len(missing) - stored
    if remaining:
        log.warning(
            "%d media files have no audio in the database and none on this node: their calls "
            "fail until a node holding their files starts (see docs/media.md)",
            remaining,
        )
    return stored
