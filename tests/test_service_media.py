"""The service's start on a database from before ``media_audio``: the node that holds a
file's audio stores it in the database, so the other nodes can play it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from sqlalchemy import Engine

from vestnik.config import Config, LimitsConfig
from vestnik.media.audiofile import import_media_file
from vestnik.service import _open_engine
from vestnik.store.accounts import create_account
from vestnik.store.media import get_media_file, media_without_audio, stored_audio
from vestnik.store.schema import media_audio


def _config(db_url: str, data_dir: Path) -> Config:
    config = Config(data_dir=str(data_dir))
    config.database.url = db_url
    return config


def test_start_stores_the_audio_of_older_files_it_holds(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    t = np.arange(16_000) / 16_000
    soundfile.write(str(tmp_path / "tone.wav"), 0.3 * np.sin(2 * np.pi * 500 * t), 16_000)
    with engine.begin() as conn:
        account = create_account(conn, "shop", LimitsConfig())
        media_id = import_media_file(conn, account, tmp_path / "tone.wav", None, tmp_path / "a")
        pcm_path = str(get_media_file(conn, media_id)["pcm_path"])
        conn.execute(media_audio.delete())  # as migration 0006 leaves an older database
    # A node without the file (its start also makes the system files) stores nothing of it.
    _open_engine(_config(db_url, tmp_path / "b")).dispose()
    with engine.connect() as conn:
        assert media_without_audio(conn) == [(media_id, pcm_path)]
    _open_engine(_config(db_url, tmp_path / "a")).dispose()
    with engine.connect() as conn:
        assert media_without_audio(conn) == []
        assert stored_audio(conn, media_id) == (tmp_path / "a" / pcm_path).read_bytes()
