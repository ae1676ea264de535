"""store.media: the rows vestnik.media writes and reads, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine

from tests.support.sessions import queue_session
from vestnik.config import LimitsConfig
from vestnik.store.accounts import create_account, remove_account
from vestnik.store.media import (
    TYPE_SYSTEM,
    TYPE_USER,
    MediaPcm,
    StoredAudio,
    account_exists,
    find_system_media_file,
    get_media_file,
    has_stored_audio,
    insert_media_file,
    lock_system_media,
    media_pcm,
    media_without_audio,
    on_rollback,
    pcm_digest,
    remove_media_file,
    replace_stored_audio,
    store_audio,
    stored_audio,
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


PCM = bytes(range(256)) * 40  # 10,240 bytes: 640 ms of s16le at 8 kHz


def test_audio_is_stored_and_read_back_with_its_size_and_digest(
    engine: Engine, account: int
) -> None:
    media_id = _insert(engine, account, TYPE_USER, "greeting")
    with engine.connect() as conn:
        assert stored_audio(conn, media_id) is None
        assert not media_pcm(conn, media_id).in_database  # type: ignore[union-attr]
        assert media_without_audio(conn) == [(media_id, "media/a.pcm")]
    with engine.begin() as conn:
        assert store_audio(conn, media_id, PCM)
    with engine.connect() as conn:
        assert stored_audio(conn, media_id) == PCM
        assert has_stored_audio(conn, media_id)
        row = media_pcm(conn, media_id)
        assert media_without_audio(conn) == []
    digest = hashlib.sha256(PCM).hexdigest()
    assert pcm_digest(PCM) == digest
    assert row == MediaPcm(account, TYPE_USER, "media/a.pcm", len(PCM), digest)
    assert row is not None and row.in_database


def test_audio_replaced_or_kept(engine: Engine, account: int) -> None:
    media_id = _insert(engine, account, TYPE_USER, "greeting")
    with engine.begin() as conn:
        assert store_audio(conn, media_id, PCM, replace=False)
    # Another node copying its file later: the first copy stays, nothing fails.
    with engine.begin() as conn:
        assert not store_audio(conn, media_id, b"\x01\x00" * 8, replace=False)
        assert stored_audio(conn, media_id) == PCM
    # A regenerated file replaces it.
    with engine.begin() as conn:
        assert store_audio(conn, media_id, b"\x02\x00" * 8)
    with engine.connect() as conn:
        assert stored_audio(conn, media_id) == b"\x02\x00" * 8
        assert media_pcm(conn, media_id).pcm_bytes == 16  # type: ignore[union-attr]


def test_removal_deletes_the_audio_once_no_session_needs_it(engine: Engine, account: int) -> None:
    kept, dropped = (_insert(engine, account, TYPE_USER, n) for n in ("kept", "dropped"))
    with engine.begin() as conn:
        for media_id in (kept, dropped):
            store_audio(conn, media_id, PCM)
        queue_session(conn, account, message_type="media", message_value=str(kept),
                      media_file_id=kept)  # fmt: skip
    with engine.begin() as conn:
        assert remove_media_file(conn, account, kept).unfinished_sessions == 1
        assert remove_media_file(conn, account, dropped).unfinished_sessions == 0
    with engine.connect() as conn:
        assert stored_audio(conn, kept) == PCM  # its queued session still plays it
        assert stored_audio(conn, dropped) is None
        # Deleted on purpose: not "missing", no node tries to copy it in again.
        assert has_stored_audio(conn, kept) and media_without_audio(conn) == []


def test_removing_an_account_deletes_its_audio(engine: Engine, account: int) -> None:
    media_id = _insert(engine, account, TYPE_USER, "greeting")
    system = _insert(engine, None, TYPE_SYSTEM, "beep")
    with engine.begin() as conn:
        store_audio(conn, media_id, PCM)
        store_audio(conn, system, PCM)
    with engine.begin() as conn:
        remove_account(conn, account)
    with engine.connect() as conn:
        assert stored_audio(conn, media_id) is None
        assert stored_audio(conn, system) == PCM


def test_system_media_lock_is_taken_inside_a_transaction(engine: Engine) -> None:
    with engine.begin() as conn:
        lock_system_media(conn)  # PostgreSQL: an advisory lock; SQLite: nothing to do
        lock_system_media(conn)  # re-entrant within the transaction
