"""Audio files: decode, check, convert once to message PCM, store with a ``media_files`` row.

An imported file is decoded with ``soundfile`` (libsndfile: WAV, FLAC, OGG Vorbis/Opus, MP3 and
more), or with PyAV when libsndfile does not know the format (AAC/M4A and the like), mixed to
mono and resampled to 8 kHz by soxr block by block while decoding, brought to the message level
(:func:`vestnik.media.level.normalize_level`) and stored as raw s16le: in the database
(``media_audio``, what every node plays: :mod:`vestnik.media.shared_audio`) and, as this node's
cache, next to the untouched original under ``<data_dir>/media/``. Paths in the row are
relative to ``data_dir`` so the data directory can move; the original stays on the importing
node only (nothing serves or reads it again).

Bad input (not audio, empty, silent, too long, too large) raises :class:`MediaError` with a
message fit for the operator and stores nothing: files are written only after every check
passed, and are deleted again if the row cannot be inserted or its transaction rolls back.
The rows are written through :mod:`vestnik.store.media`. ``MediaImporter`` is this import as
the :class:`vestnik.calls.ports.AudioImporter` the HTTP upload uses.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.calls.ports import AudioImportError
from vestnik.config import Config, MediaConfig
from vestnik.media.level import SilentAudioError, normalize_level, to_float, to_int16
from vestnik.store.db import Connection, now
from vestnik.store.media import (
    TYPE_SYSTEM,
    TYPE_USER,
    StoredAudio,
    account_exists,
    insert_media_file,
    on_rollback,
    replace_stored_audio,
    store_audio,
)

MEDIA_SUBDIR = "media"
PCM_SUFFIX = ".pcm"
MAX_NAME_LENGTH = 255

DECODE_BLOCK_FRAMES = 65_536


class MediaError(AudioImportError, ValueError):
    """The file cannot become a message: the text says why, for the operator."""


@dataclass(frozen=True)
class MediaLimits:
    max_duration_seconds: float = 600.0
    max_file_bytes: int = 20_971_520

    @classmethod
    def from_config(cls, config: MediaConfig) -> MediaLimits:
        return cls(config.max_duration_seconds, config.max_file_bytes)


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded file, already mixed to mono and resampled to 8 kHz (float in [-1, 1]).

    Decoding streams block by block through the resampler, so memory stays at the 8 kHz
    result (≤ 19 MB for 10 minutes) whatever the source rate and channel count.
    """

    samples: npt.NDArray[np.float32]
    source_rate: int
    format: str  # "wav", "flac", "ogg", "mp3", or the codec PyAV found ("aac", …)

    @property
    def duration(self) -> float:
        return self.samples.size / SAMPLE_RATE


class _MonoTo8k:
    """Collects decoded blocks: mix to mono, stream-resample (soxr HQ) to 8 kHz."""

    def __init__(self, rate: int, limits: MediaLimits) -> None:
        self._rate = rate
        self._limit_frames = limits.max_duration_seconds * rate
        self._limits = limits
        self._frames = 0
        self._stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        self._out: list[npt.NDArray[np.float32]] = []

    def add(self, block: npt.NDArray[np.generic], last: bool = False) -> None:
        mono = to_float(block)
        self._frames += mono.size
        if self._frames > self._limit_frames:
            raise _too_long(self._frames / self._rate, self._limits)
        self._out.append(self._stream.resample_chunk(mono, last=last))

    def result(self) -> npt.NDArray[np.float32]:
        self._out.append(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))
        return np.concatenate(self._out).astype(np.float32, copy=False)


def media_dir(data_dir: Path) -> Path:
    return Path(data_dir) / MEDIA_SUBDIR


def resolve_media_path(data_dir: Path, stored: str) -> Path:
    """A path from a ``media_files`` row (relative to ``data_dir`` unless absolute)."""
    path = Path(stored)
    return path if path.is_absolute() else Path(data_dir) / path


def load_pcm(path: Path) -> Pcm:
    """Stored message PCM (8 kHz mono s16le) as an int16 array."""
    return np.fromfile(path, dtype="<i2").astype(np.int16, copy=False)


def _too_long(seconds: float, limits: MediaLimits) -> MediaError:
    return MediaError(
        f"audio is too long: {seconds:.1f} s (the limit is {limits.max_duration_seconds:g} s)"
    )


def _decode_soundfile(path: Path, limits: MediaLimits) -> DecodedAudio | None:
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None  # not a format libsndfile knows
    if info.samplerate <= 0:
        return None
    if info.frames > 0 and info.duration > limits.max_duration_seconds:
        raise _too_long(info.duration, limits)  # from the header, before decoding
    sink = _MonoTo8k(int(info.samplerate), limits)
    try:
        for block in soundfile.blocks(str(path), blocksize=DECODE_BLOCK_FRAMES, dtype="float32"):
            sink.add(block)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise MediaError(f"cannot decode the {info.format} file: {exc}") from exc
    return DecodedAudio(sink.result(), int(info.samplerate), info.format.lower())


def _decode_pyav(path: Path, limits: MediaLimits) -> DecodedAudio | None:
    try:
        import av
    except ImportError:
        return None
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        if rate <= 0:
            return None
        codec = stream.codec_context.name
        # Packed float mono at the source rate; soxr does the rate change.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        sink = _MonoTo8k(rate, limits)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    sink.add(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                sink.add(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            raise MediaError(f"cannot decode the {codec} audio: {exc}") from exc
        return DecodedAudio(sink.result(), rate, codec)


def decode_audio_file(path: Path, limits: MediaLimits = MediaLimits()) -> DecodedAudio:
    """Decode ``path`` after the size check; raises :class:`MediaError` for anything unusable."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise MediaError(f"{path} is not a regular file")
    if size == 0:
        raise MediaError("the file is empty")
    if size > limits.max_file_bytes:
        raise MediaError(
            f"file is too large: {size} bytes (the limit is {limits.max_file_bytes} bytes)"
        )
    decoded = _decode_soundfile(path, limits) or _decode_pyav(path, limits)
    if decoded is None:
        raise MediaError(
            "not an audio file, or an audio format we cannot decode (use WAV, MP3, OGG or FLAC)"
        )
    if decoded.samples.size == 0:
        raise MediaError("the audio has no samples")
    if decoded.duration > limits.max_duration_seconds:
        raise _too_long(decoded.duration, limits)
    return decoded


def convert(decoded: DecodedAudio) -> Pcm:
    """Decoded audio → message PCM at the normalised level."""
    try:
        return to_int16(normalize_level(decoded.samples, SAMPLE_RATE))
    except SilentAudioError as exc:
        raise MediaError("the audio is silent") from exc


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file in its folder, then a rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _files_owned_by_transaction(conn: Connection, paths: list[Path]) -> Iterator[None]:
    """Delete ``paths`` if the block raises, or if ``conn``'s transaction later rolls back."""

    def remove() -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()

    try:
        yield
    except BaseException:
        remove()
        raise
    on_rollback(conn, remove)


def store_media(
    conn: Connection,
    *,
    account_id: int | None,
    media_type: str,
    name: str,
    data_dir: Path,
    pcm: Pcm,
    original: bytes | None,
    original_suffix: str,
    original_filename: str | None,
    format: str,
    size: int,
    replacing: int | None = None,
) -> int:
    """Write the PCM (and original) files, insert the row and store the PCM in the database
    (one transaction: ``conn``'s); returns its id. ``replacing``: the id of a row to point at
    the new files and audio instead (its name and times stay)."""
    folder = media_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = uuid.uuid4().hex
    pcm_file = folder / f"{stem}{PCM_SUFFIX}"
    original_file = folder / f"{stem}.orig{original_suffix}" if original is not None else None
    written: list[Path] = []
    with _files_owned_by_transaction(conn, written):
        pcm_bytes = np.ascontiguousarray(pcm, dtype="<i2").tobytes()
        written.append(pcm_file)
        write_atomic(pcm_file, pcm_bytes)
        if original_file is not None and original is not None:
            written.append(original_file)
            write_atomic(original_file, original)
        audio = StoredAudio(
            pcm_path=str(pcm_file.relative_to(data_dir)),
            original_path=str(original_file.relative_to(data_dir)) if original_file else None,
            size=size,
            duration_ms=round(pcm.size * 1000 / SAMPLE_RATE),
        )
        if replacing is not None:
            replace_stored_audio(conn, replacing, audio)
            store_audio(conn, replacing, pcm_bytes)
            return replacing
        media_id = insert_media_file(
            conn,
            audio,
            account_id=account_id,
            media_type=media_type,
            name=name,
            original_filename=original_filename,
            format=format,
            created_at=now(),
        )
        store_audio(conn, media_id, pcm_bytes)
        return media_id


def _clean_name(name: str | None, fallback: str) -> str:
    chosen = (name if name is not None else fallback).strip()
    if not chosen:
        raise MediaError("the media file needs a non-empty name")
    if len(chosen) > MAX_NAME_LENGTH:
        raise MediaError(f"the name is longer than {MAX_NAME_LENGTH} characters")
    return chosen


def import_media_file(
    conn: Connection,
    account_id: int | None,
    path: Path,
    name: str | None,
    data_dir: Path,
    *,
    limits: MediaLimits = MediaLimits(),
    original_filename: str | None = None,
    media_type: str = TYPE_USER,
) -> int:
    """Import an audio file for ``account_id`` (``None``: a system file); returns its id.

    ``original_filename`` is what the user called the file (an HTTP upload arrives in a temp
    file); it defaults to ``path.name`` and gives the default ``name``. The caller owns the
    transaction on ``conn``: if it rolls back, the stored files are removed too.
    """
    path = Path(path)
    original_filename = (original_filename or path.name)[:MAX_NAME_LENGTH]
    clean_name = _clean_name(name, Path(original_filename).stem or original_filename)
    if media_type not in (TYPE_USER, TYPE_SYSTEM):
        raise MediaError(f"unknown media type {media_type!r}")
    if account_id is not None and not account_exists(conn, account_id):
        raise MediaError(f"no account with id {account_id}")
    decoded = decode_audio_file(path, limits)
    pcm = convert(decoded)
    original = path.read_bytes()
    suffix = re.sub(r"[^a-z0-9.]", "", Path(original_filename).suffix.lower())[:16]
    suffix = suffix if len(suffix) > 1 else f".{decoded.format}"
    return store_media(
        conn,
        account_id=account_id,
        media_type=media_type,
        name=clean_name,
        data_dir=Path(data_dir),
        pcm=pcm,
        original=original,
        original_suffix=suffix,
        original_filename=original_filename,
        format=decoded.format,
        size=len(original),
    )


class MediaImporter:
    """:class:`vestnik.calls.ports.AudioImporter`: ``import_media_file`` into the configured
    data folder, within ``[media]`` limits."""

    def __init__(self, config: Config) -> None:
        self._data_dir = config.data_path
        self._limits = MediaLimits.from_config(config.media)

    def import_audio(
        self,
        conn: Connection,
        account_id: int,
        path: Path,
        name: str | None,
        original_filename: str,
    ) -> int:
        return import_media_file(
            conn,
            account_id,
            path,
            name,
            self._data_dir,
            limits=self._limits,
            original_filename=original_filename,
        )


def delete_media_files(data_dir: Path, row: Mapping[str, Any]) -> None:
    """Remove the audio files of a ``media_files`` row (missing ones are no error)."""
    for stored in (row["pcm_path"], row["original_path"]):
        if stored:
            with contextlib.suppress(OSError):
                resolve_media_path(data_dir, stored).unlink()
