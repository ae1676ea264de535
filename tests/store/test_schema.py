"""Schema and migration basics on both backends."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from vestnik.config import LimitsConfig
from vestnik.store import metadata, migrate
from vestnik.store.accounts import ACCOUNT_OWNED_TABLES, create_account, resolve_account
from vestnik.store.db import alembic_config
from vestnik.store.errors import AdminError
from vestnik.store.schema import accounts, call_sessions, media_audio, media_files


def test_migrate_is_idempotent(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(accounts)).scalar() == 0


def test_account_defaults_and_duplicates(engine: Engine) -> None:
    with engine.begin() as conn:
        account_id = create_account(conn, "acme", LimitsConfig())
        assert resolve_account(conn, "acme") == account_id
        assert resolve_account(conn, str(account_id)) == account_id
    with engine.begin() as conn:
        try:
            create_account(conn, "acme", LimitsConfig())
        except AdminError as exc:
            assert "already exists" in str(exc)
        else:
            raise AssertionError("duplicate account accepted")


def test_migrations_match_the_schema(engine: Engine) -> None:
    """The migrated database is what schema.py declares (no column left to a migration)."""
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_removed_at_migration_keeps_media_rows_and_reverts(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def to(revision: str, step: Callable[[Config, str], None]) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    to("0001", command.downgrade)
    with engine.begin() as conn:
        row = {"account_id": create_account(conn, "acme", LimitsConfig()), "type": "user",
               "name": "greeting", "size": 1, "duration_ms": 1, "pcm_path": "x.pcm",
               "created_at": 1.0}  # fmt: skip
        before = sa.table("media_files", *(sa.column(name) for name in row))  # 0001's columns
        conn.execute(before.insert().values(**row))
    to("head", command.upgrade)
    with engine.connect() as conn:
        [stored] = conn.execute(sa.select(media_files)).mappings()
    assert stored["name"] == "greeting" and stored["removed_at"] is None


def test_account_removal_covers_every_table_that_refers_to_accounts() -> None:
    referring = {
        table.name
        for table in metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table is accounts
    }
    # An account with call sessions (and so events and recordings) is never removed.
    assert referring - {"call_sessions", "call_events", "call_recordings"} == {
        t.name for t in ACCOUNT_OWNED_TABLES
    }


def test_media_audio_migration_reverts_and_keeps_media_rows(engine: Engine) -> None:
    """0006 adds media_audio beside media_files; its downgrade drops only that table."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        row = {"account_id": create_account(conn, "acme", LimitsConfig()), "type": "user",
               "name": "greeting", "size": 1, "duration_ms": 1, "pcm_path": "x.pcm",
               "created_at": 1.0}  # fmt: skip
        media_id = conn.execute(media_files.insert().values(**row)).inserted_primary_key[0]
        conn.execute(media_audio.insert().values(media_file_id=media_id, pcm_bytes=2,
                                                 pcm_sha256="0" * 64, pcm=b"\x01\x00"))  # fmt: skip
    for step, revision in ((command.downgrade, "0005"), (command.upgrade, "head")):
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            assert ("media_audio" in names) == (revision == "head")
            assert conn.execute(sa.select(media_files.c.name)).scalars().all() == ["greeting"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(media_audio)).scalar() == 0


def test_speech_reply_migration_reverts_and_keeps_sessions(engine: Engine) -> None:
    """0011 adds call_sessions.speech_reply and speech_intent; its downgrade drops only them."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def columns() -> set[str]:
        with engine.connect() as conn:
            return {c["name"] for c in sa.inspect(conn).get_columns("call_sessions")}

    with engine.begin() as conn:
        account_id = create_account(conn, "acme", LimitsConfig())
        row = {"account_id": account_id, "virtual_phone_number": "74993720692",
               "usage_rule": "fixed", "caller_number": "74993720692", "contact": "79260000001",
               "contact_kind": "phone", "direction": "out", "dialing_timeout": 30.0,
               "message_type": "tts", "message_value": "Здравствуйте", "state": "finished",
               "created_at": 1.0, "release_requested": False, "dial_attempts": 1,
               "speech_reply": "да", "speech_intent": "yes"}  # fmt: skip
        conn.execute(call_sessions.insert().values(**row))
    for step, revision in ((command.downgrade, "0010"), (command.upgrade, "head")):
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)
        assert {"speech_reply", "speech_intent"} <= columns() or revision == "0010"
        assert not {"speech_reply", "speech_intent"} & columns() or revision == "head"
        assert "dtmf_reply" in columns()
        with engine.connect() as conn:
            assert conn.execute(sa.select(call_sessions.c.message_value)).scalars().all() == [
                "Здравствуйте"
            ]
    with engine.connect() as conn:  # the values went with the columns
        reply = conn.execute(sa.select(call_sessions.c.speech_reply)).scalar()
    assert reply is None
