"""Media audio shared through the database: a file imported on one node (data folder A)
plays on another (empty data folder B) on the same database, SQLite and PostgreSQL; B's
cache file appears, and a missing, truncated or corrupted one is fetched again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sqlalchemy import Engine

from vestnik.calls import MessageType
from vestnik.calls.audio import SAMPLE_RATE
from vestnik.calls.ports import MessageSpec, RenderError
from vestnik.config import Config, LimitsConfig
from vestnik.media.audiofile import import_media_file, load_pcm, resolve_media_path
from vestnik.media.render import AudioRenderer
from vestnik.media.shared_audio import copy_local_audio
from vestnik.store.accounts import create_account
from vestnik.store.media import get_media_file, stored_audio
from vestnik.store.schema import media_audio, media_files


def _tone(path: Path, seconds: float = 1.2) -> Path:
    t = np.arange(int(44_100 * seconds)) / 44_100
    soundfile.write(str(path), 0.4 * np.sin(2 * np.pi * 440 * t), 44_100)
    return path


@pytest.fixture
def imported(engine: Engine, tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """(account, media id, its pcm_path in node A's folder): imported on node A."""
    with engine.begin() as conn:
        account = create_account(conn, "shop", LimitsConfig())
        media_id = import_media_file(
            conn, account, _tone(tmp_path / "hello.wav"), None, tmp_path / "a"
        )
        pcm_path = str(get_media_file(conn, media_id)["pcm_path"])
    yield account, media_id, Path(pcm_path)


def _node(engine: Engine, data_dir: Path) -> AudioRenderer:
    """A fresh renderer (nothing in memory) with its own data folder: another node."""
    return AudioRenderer(Config(data_dir=str(data_dir)), engine)


def _spec(media_id: int, account: int) -> MessageSpec:
    return MessageSpec(type=MessageType.MEDIA, value=str(media_id), account_id=account)


async def test_a_file_imported_on_one_node_plays_on_another(
    engine: Engine, tmp_path: Path, imported: tuple[int, int, Path]
) -> None:
    account, media_id, pcm_path = imported
    on_a = load_pcm(resolve_media_path(tmp_path / "a", str(pcm_path)))
    with engine.connect() as conn:
        assert stored_audio(conn, media_id) == on_a.tobytes()  # stored at import
    cache_b = tmp_path / "b" / pcm_path
    assert not cache_b.exists()
    played = await _node(engine, tmp_path / "b").render(_spec(media_id, account))
    assert np.array_equal(played, on_a)
    assert abs(played.size - 1.2 * SAMPLE_RATE) < 50
    assert cache_b.read_bytes() == on_a.tobytes()  # B's cache file, written atomically
    assert [p.name for p in cache_b.parent.iterdir()] == [cache_b.name]  # no temporary left
    # Another account still gets "not found", from the database as from memory.
    with pytest.raises(RenderError, match="not found"):
        await _node(engine, tmp_path / "b").render(_spec(media_id, account + 1))


@pytest.mark.parametrize("damage", ["missing", "truncated", "corrupted", "empty"])
async def test_a_bad_cache_file_is_fetched_again(
    engine: Engine, tmp_path: Path, imported: tuple[int, int, Path], damage: str
) -> None:
    account, media_id, pcm_path = imported
    good = await _node(engine, tmp_path / "b").render(_spec(media_id, account))
    cache_b = tmp_path / "b" / pcm_path
    data = cache_b.read_bytes()
    if damage == "missing":
        cache_b.unlink()
    elif damage == "truncated":
        cache_b.write_bytes(data[: len(data) // 2])
    elif damage == "corrupted":  # same length, other samples: only the digest tells
        cache_b.write_bytes(bytes(b ^ 0x55 for b in data[:64]) + data[64:])
    else:
        cache_b.write_bytes(b"")
    played = await _node(engine, tmp_path / "b").render(_spec(media_id, account))
    assert np.array_equal(played, good)
    assert cache_b.read_bytes() == data


async def test_a_valid_cache_file_is_played_without_reading_the_audio(
    engine: Engine, tmp_path: Path, imported: tuple[int, int, Path]
) -> None:
    """The importing node plays its own file: proven by taking the database copy's bytes
    away after the lookup has what it needs (size and digest stay in the row)."""
    account, media_id, _pcm_path = imported
    with engine.begin() as conn:  # the audio column only: size and digest kept
        conn.execute(media_audio.update().values(pcm=b""))
    played = await _node(engine, tmp_path / "a").render(_spec(media_id, account))
    assert abs(played.size - 1.2 * SAMPLE_RATE) < 50


async def test_older_files_are_copied_in_by_the_node_that_has_them(
    engine: Engine,
    tmp_path: Path,
    imported: tuple[int, int, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Rows from before media_audio: node B (no file) copies nothing and cannot play it; node
    A copies its file at start; then B plays it."""
    account, media_id, pcm_path = imported
    with engine.begin() as conn:
        conn.execute(media_audio.delete())
    with caplog.at_level(logging.WARNING, "vestnik.media.shared_audio"):
        assert copy_local_audio(engine, tmp_path / "b") == 0
    assert "1 media files have no audio in the database and none on this node" in caplog.text
    with pytest.raises(RenderError, match=r"not in the database and .* missing"):
        await _node(engine, tmp_path / "b").render(_spec(media_id, account))
    # Node A plays its file as before (no copy in the database needed).
    on_a = await _node(engine, tmp_path / "a").render(_spec(media_id, account))
    assert copy_local_audio(engine, tmp_path / "a") == 1
    assert copy_local_audio(engine, tmp_path / "a") == 0  # done once
    played = await _node(engine, tmp_path / "b").render(_spec(media_id, account))
    assert np.array_equal(played, on_a)
    assert (tmp_path / "b" / pcm_path).read_bytes() == on_a.tobytes()


async def test_a_damaged_old_file_is_not_copied_in(
    engine: Engine, tmp_path: Path, imported: tuple[int, int, Path]
) -> None:
    _account, media_id, pcm_path = imported
    with engine.begin() as conn:
        conn.execute(media_audio.delete())
    local = tmp_path / "a" / pcm_path
    local.write_bytes(local.read_bytes()[:1000])  # shorter than the row's duration_ms
    assert copy_local_audio(engine, tmp_path / "a") == 0
    with engine.connect() as conn:
        assert stored_audio(conn, media_id) is None


async def test_a_path_outside_the_data_folder_is_never_written(
    engine: Engine, tmp_path: Path, imported: tuple[int, int, Path]
) -> None:
    account, media_id, _pcm_path = imported
    with engine.begin() as conn:
        conn.execute(
            media_files.update()
            .where(media_files.c.id == media_id)
            .values(pcm_path="../outside.pcm")
        )
    played = await _node(engine, tmp_path / "b").render(_spec(media_id, account))
    assert abs(played.size - 1.2 * SAMPLE_RATE) < 50  # played from the database
    assert not (tmp_path / "outside.pcm").exists()
