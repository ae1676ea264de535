"""The test databases: a migrated SQLite file per test, one migrated PostgreSQL database per run.

PostgreSQL comes from ``VESTNIK_TEST_PG_URL`` (default: the local server, user postgres); without
a reachable server the tests that need it are skipped with the reason printed, never silently,
and in CI such a skip fails (``tests/support/strict_ci.py``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from vestnik.store import create_db_engine, metadata, migrate

PG_ADMIN_URL = os.environ.get(
    "VESTNIK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

_pg_state: dict[str, object] = {}


def pg_database_url() -> str:
    """One fresh migrated PostgreSQL database per test run (dropped at exit)."""
    if "url" in _pg_state:
        return str(_pg_state["url"])
    if "error" in _pg_state:
        pytest.skip(str(_pg_state["error"]))
    name = f"vestnik_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # any connection failure means "no PostgreSQL here"
        _pg_state["error"] = (
            f"PostgreSQL not reachable at {PG_ADMIN_URL} ({type(exc).__name__}); "
            "set VESTNIK_TEST_PG_URL to run the PostgreSQL half of the suite"
        )
        pytest.skip(str(_pg_state["error"]))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    _pg_state.update(url=url, admin=admin, name=name)
    return url


def drop_pg_database() -> None:
    """Drop the run's PostgreSQL database, if one was made (at the end of the session)."""
    admin = _pg_state.get("admin")
    if isinstance(admin, Engine):
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{_pg_state["name"]}" WITH (FORCE)')
        admin.dispose()


def truncate_pg(url: str) -> None:
    engine = create_db_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


def migrated_sqlite(directory: Path) -> str:
    url = f"sqlite:///{directory / 'vestnik.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    return url
