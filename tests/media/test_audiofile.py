"""Importing audio files: real WAV/MP3/OGG/FLAC/M4A in, 8 kHz PCM + original + row out;
bad files refused with a clear message and nothing stored (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import sqlalchemy as sa
from sqlalchemy import Engine

from vestnik.config import LimitsConfig
from vestnik.media.audiofile import (
    MediaError,
    MediaLimits,
    import_media_file,
    load_pcm,
    media_dir,
    resolve_media_path,
)
from vestnik.media.level import TARGET_DBFS, amplitude_to_db
from vestnik.store.accounts import create_account
from vestnik.store.schema import media_files

DEFAULT_LIMITS = MediaLimits()


def tone_file(path: Path, fmt: str, seconds: float = 1.5, rate: int = 44_100, **kw: str) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    left = 0.2 * np.sin(2 * np.pi * 440 * t)
    right = 0.2 * np.sin(2 * np.pi * 660 * t)
    soundfile.write(path, np.stack([left, right], axis=1), rate, format=fmt, **kw)
    return path


def m4a_file(path: Path, seconds: float = 1.5) -> Path:
    av = pytest.importorskip("av")
    rate = 16_000
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture
def account(engine: Engine) -> int:
    with engine.begin() as conn:
        return create_account(conn, "shop", LimitsConfig())


def rows(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(media_files)))


def stored_files(data_dir: Path) -> list[Path]:
    folder = media_dir(data_dir)
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("fmt", "suffix", "kw"),
    [
        ("WAV", ".wav", {"subtype": "PCM_16"}),
        ("FLAC", ".flac", {}),
        ("OGG", ".ogg", {"subtype": "VORBIS"}),
        ("MP3", ".mp3", {}),
    ],
)
def test_import_formats(
    engine: Engine, account: int, tmp_path: Path, fmt: str, suffix: str, kw: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    source = tone_file(tmp_path / f"greeting{suffix}", fmt, **kw)
    with engine.begin() as conn:
        media_id = import_media_file(conn, account, source, None, data_dir)
    [row] = rows(engine)
    assert row.id == media_id
    assert (row.account_id, row.type, row.name) == (account, "user", "greeting")
    assert row.original_filename == f"greeting{suffix}"
    assert row.format == fmt.lower()
    assert row.size == source.stat().st_size
    assert row.duration_ms == pytest.approx(1500, abs=60)  # MP3 adds encoder padding
    # The original is kept byte for byte; the PCM is 8 kHz mono at the normalised level.
    original = resolve_media_path(data_dir, row.original_path)
    assert original.read_bytes() == source.read_bytes()
    pcm = load_pcm(resolve_media_path(data_dir, row.pcm_path))
    assert pcm.size == pytest.approx(12_000, abs=480)
    x = pcm[800:-800].astype(np.float64) / 32768
    assert amplitude_to_db(float(np.sqrt(np.mean(x * x)))) == pytest.approx(TARGET_DBFS, abs=1.0)
    assert not Path(row.pcm_path).is_absolute()  # the data dir may move


def test_import_m4a_through_pyav(sqlite_url: str, tmp_path: Path) -> None:
    from vestnik.store import create_db_engine

    engine = create_db_engine(sqlite_url)
    source = m4a_file(tmp_path / "note.m4a")
    with engine.begin() as conn:
        media_id = import_media_file(conn, None, source, "Note", tmp_path / "d")
    [row] = rows(engine)
    assert (row.id, row.format, row.name, row.account_id) == (media_id, "aac", "Note", None)
    assert row.duration_ms == pytest.approx(1500, abs=120)
    # PyAV has no trustworthy length up front: decoding stops once past the limit.
    long = m4a_file(tmp_path / "long.m4a", seconds=5.0)
    with pytest.raises(MediaError, match=r"too long: 4\.\d s"), engine.begin() as conn:
        import_media_file(conn, None, long, None, tmp_path / "d2", limits=MediaLimits(4, 10**7))
    assert len(rows(engine)) == 1
    assert stored_files(tmp_path / "d2") == []
    engine.dispose()


def _refused(
    engine: Engine,
    account: int,
    path: Path,
    data_dir: Path,
    match: str,
    name: str | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> None:
    with pytest.raises(MediaError, match=match), engine.begin() as conn:
        import_media_file(conn, account, path, name, data_dir, limits=limits)
    assert rows(engine) == []
    assert stored_files(data_dir) == []


def test_refusals_store_nothing(engine: Engine, account: int, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 20)
    _refused(engine, account, text, data_dir, "not an audio file")

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _refused(engine, account, empty, data_dir, "empty")

    no_samples = tmp_path / "nosamples.wav"
    soundfile.write(no_samples, np.zeros((0, 1)), 8000, format="WAV")
    _refused(engine, account, no_samples, data_dir, "no samples")

    silent = tmp_path / "silent.flac"
    soundfile.write(silent, np.zeros(8000), 8000, format="FLAC")
    _refused(engine, account, silent, data_dir, "silent")

    long = tone_file(tmp_path / "long.ogg", "OGG", seconds=5.0, rate=8000, subtype="VORBIS")
    _refused(
        engine, account, long, data_dir, "too long: 5.0 s", limits=MediaLimits(4.0, 10_000_000)
    )

    large = tone_file(tmp_path / "large.wav", "WAV", seconds=1.0)
    _refused(engine, account, large, data_dir, "too large", limits=MediaLimits(600, 10_000))

    ok = tone_file(tmp_path / "ok.wav", "WAV")
    _refused(engine, account + 1000, ok, data_dir, "no account")
    _refused(engine, account, tmp_path / "missing.wav", data_dir, "cannot read")


def test_rollback_of_the_callers_transaction_removes_the_files(
    engine: Engine, account: int, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    source = tone_file(tmp_path / "a.wav", "WAV")
    with engine.connect() as conn:
        trans = conn.begin()
        import_media_file(conn, account, source, "a", data_dir)
        assert len(stored_files(data_dir)) == 2
        trans.rollback()
        # A later transaction on the same connection is unaffected by the earlier listener.
        with conn.begin():
            import_media_file(conn, account, source, "b", data_dir)
    assert [r.name for r in rows(engine)] == ["b"]
    assert len(stored_files(data_dir)) == 2


def test_name_rules(engine: Engine, account: int, tmp_path: Path) -> None:
    source = tone_file(tmp_path / "x.wav", "WAV")
    _refused(engine, account, source, tmp_path / "d", "non-empty name", name="  ")
    _refused(engine, account, source, tmp_path / "d", "longer than 255", name="x" * 256)


def test_import_ogg_opus(sqlite_url: str, tmp_path: Path) -> None:
    from vestnik.store import create_db_engine

    engine = create_db_engine(sqlite_url)
    source = tone_file(tmp_path / "voice.opus", "OGG", rate=48_000, subtype="OPUS")
    with engine.begin() as conn:
        import_media_file(conn, None, source, None, tmp_path / "d")
    [row] = rows(engine)
    assert (row.format, row.original_filename) == ("ogg", "voice.opus")
    assert row.duration_ms == pytest.approx(1500, abs=60)
    engine.dispose()
