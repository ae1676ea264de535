"""Shared fixtures: a migrated database on SQLite and on PostgreSQL.

Tests that take ``engine`` (or ``db_url``) run twice, once per backend. PostgreSQL comes from
``VESTNIK_TEST_PG_URL`` (default: the local server, user postgres); without a reachable server
those runs are skipped with the reason printed, never silently, and in CI such a skip fails
(``tests/support/strict_ci.py``). The databases themselves are made in ``tests/support/db.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.db import drop_pg_database, migrated_sqlite, pg_database_url, truncate_pg
from vestnik.store import create_db_engine

pytest_plugins = ["tests.support.strict_ci"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_pg_database()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL of each backend."""
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path)
    url = pg_database_url()
    truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database only (for tests whose subject is not storage)."""
    return migrated_sqlite(tmp_path)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()
