"""Shared fixtures: a migrated database on SQLite and on PostgreSQL.

Tests that take ``engine`` (or ``db_url``) run twice, once per backend. PostgreSQL comes from
``VESTNIK_TEST_PG_URL`` (default: the local server, user postgres); without a reachable server
those runs are skipped with the reason printed, never silently, and in CI such a skip fails
(``tests/support/strict_ci.py``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from vestnik.store import create_db_engine, metadata, migrate

pytest_plugins = ["tests.support.strict_ci"]

PG_ADMIN_URL = os.environ.get(
    "VESTNIK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

_pg_state: dict[str, object] = {}


def _pg_database_url() -> str:
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    admin = _pg_state.get("admin")
    if isinstance(admin, Engine):
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{_pg_state["name"]}" WITH (FORCE)')
        admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_db_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


def _migrated_sqlite(directory: Path) -> str:
    url = f"sqlite:///{directory / 'vestnik.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL of each backend."""
    if request.param == "sqlite":
        return _migrated_sqlite(tmp_path)
    url = _pg_database_url()
    _truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database only (for tests whose subject is not storage)."""
    return _migrated_sqlite(tmp_path)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()
