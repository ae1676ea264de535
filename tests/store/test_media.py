"""store.media: the rows vestnik.media writes and reads, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from vestnik.config import LimitsConfig
from vestnik.store.accounts import create_account
from vestnik.store.media import (
    TYPE_SYSTEM,
    TYPE_USER,
    MediaPcm,
    StoredAudio,
    account_exists,
    find_system_media_file,
    get_media_file,
    insert_media_file,
    media_pcm,
    on_rollback,
    remove_media_file,
    replace_stored_audio,
)

AUDIO = StoredAudio(
    pcm_path="media/a.pcm", original_path="media/a.orig.wav", size=10, duration_ms=20
)


def _insert(engine: Engine, account_id: int | None, media_type: str, name: str) -> int:
    with engine.begin() as conn:
        return insert_media_file(
            conn,
            AUDIO,
            account_id=account_id,
            media_type=media_type,
            name=name,
            original_filename=f"{name}.wav",
            format="wav",
            created_at=1000.0,
        )


@pytest.fixture
def account(engine: Engine) -> int:
    with engine.begin() as conn:
        return create_account(conn, "shop", LimitsConfig())


def test_inserted_row_is_read_back(engine: Engine, account: int) -> None:
    media_id = _insert(engine, account, TYPE_USER, "greeting")
    with engine.connect() as conn:
        row = get_media_file(conn, media_id)
        assert media_pcm(conn, media_id) == MediaPcm(account, TYPE_USER, "media/a.pcm")
        assert media_pcm(conn, media_id + 1) is None
        assert account_exists(conn, account)
        assert not account_exists(conn, account + 1)
    assert (row["name"], row["original_filename"], row["format"]) == (
        "greeting",
        "greeting.wav",
        "wav",
    )
    assert (row["size"], row["duration_ms"], row["created_at"]) == (10, 20, 1000.0)


def test_a_removed_file_still_has_its_audio(engine: Engine, account: int) -> None:
    media_id = _insert(engine, account, TYPE_USER, "greeting")
    with engine.begin() as conn:
        remove_media_file(conn, account, media_id)
    with engine.connect() as conn:
        assert media_pcm(conn, media_id) == MediaPcm(account, TYPE_USER, "media/a.pcm")


def test_system_file_found_by_name_and_its_audio_replaced_in_place(engine: Engine) -> None:
    first = _insert(engine, None, TYPE_SYSTEM, "beep")
    _insert(engine, None, TYPE_SYSTEM, "beep")  # a later duplicate: the oldest wins
    fresh = StoredAudio(pcm_path="media/b.pcm", original_path=None, size=7, duration_ms=30)
    with engine.begin() as conn:
        assert find_system_media_file(conn, "beep") == (first, "media/a.pcm")
        assert find_system_media_file(conn, "chime") is None
        replace_stored_audio(conn, first, fresh)
    with engine.connect() as conn:
        row = get_media_file(conn, first)
    assert (row["pcm_path"], row["original_path"], row["size"], row["duration_ms"]) == (
        "media/b.pcm", None, 7, 30
    )  # fmt: skip
    assert (row["name"], row["created_at"]) == ("beep", 1000.0)


def test_on_rollback_runs_only_when_the_transaction_rolls_back(engine: Engine) -> None:
    calls: list[str] = []
    with engine.connect() as conn:
        on_rollback(conn, lambda: calls.append("outside"))  # no transaction: never called
        with conn.begin() as tx:
            on_rollback(conn, lambda: calls.append("rolled back"))
            tx.rollback()
        with conn.begin():
            on_rollback(conn, lambda: calls.append("committed"))
        conn.rollback()  # a later rollback on the same connection does not wake it
    assert calls == ["rolled back"]
