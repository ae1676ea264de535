"""Schema and migration basics on both backends."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from vestnik.config import LimitsConfig
from vestnik.store import migrate
from vestnik.store.accounts import AdminError, create_account, resolve_account
from vestnik.store.schema import accounts


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
