"""Engine creation (SQLite in WAL mode, or PostgreSQL) and schema migration.

``Connection`` and ``Engine`` are re-exported as opaque handles for type hints: code outside
``store`` names them from here and never imports SQLAlchemy itself.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, CursorResult, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import SQLAlchemyError as DatabaseError
from sqlalchemy.pool import QueuePool

from vestnik.store.deadline import bound_postgresql, deadline
from vestnik.store.errors import DatabaseUrlError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# SQLite's busy timeout when no bound is given (admin commands, tests).
DEFAULT_SQLITE_BUSY_SECONDS = 30.0

log = logging.getLogger("vestnik.store")


def now() -> float:
    """Wall-clock UNIX seconds, the unit of every stored time."""
    return time.time()


def inserted_id(result: CursorResult[Any]) -> int:
    """The id (integer primary key) of the one row an ``INSERT`` statement just added."""
    key = result.inserted_primary_key
    if key is None:
        raise ValueError("the statement inserted no row with a primary key")
    return int(key[0])


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def create_db_engine(url: str, *, timeout: float | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and its folder created.

    ``timeout`` (``[database] timeout``) bounds every wait on the database: SQLite's busy
    timeout; on PostgreSQL the connect timeout, the server's ``statement_timeout``, the pool
    checkout and the deadline of each connection in use (:mod:`vestnik.store.deadline`).
    None: no bounds on PostgreSQL, 30 s busy timeout on SQLite.
    """
    if url.startswith("sqlite"):
        busy = DEFAULT_SQLITE_BUSY_SECONDS if timeout is None else timeout
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy},
            poolclass=kwargs.pop("poolclass", None) or QueuePool,
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Autocommit at the driver level; SQLAlchemy's BEGIN below controls transactions,
            # and BEGIN IMMEDIATE takes the write lock up front (no deadlock on upgrade).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={max(1, round(busy * 1000))}")
            cur.close()
            # SQLite's lower() folds ASCII only; the Data API's ilike needs Cyrillic folded
            # as PostgreSQL folds it.
            dbapi_conn.create_function("lower", 1, _lower, deterministic=True)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    if timeout is None:
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    engine = create_engine(url, pool_timeout=timeout, **kwargs)
    bound_postgresql(engine, timeout)
    return engine


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent); a change is logged.

    Not bounded by ``[database] timeout``: a migration may rewrite big tables.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with deadline(math.inf), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("database schema migrated from %s to %s", before or "empty", after)


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_database_url(url: str) -> None:
    """Refuse a URL SQLAlchemy cannot parse or whose driver is not installed, plainly."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(
            f"database URL {url!r} is not a SQLAlchemy URL "
            "(e.g. postgresql+psycopg://user@127.0.0.1/vestnik)"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        parsed.get_dialect().import_dbapi()
    except ArgumentError as exc:
        raise DatabaseUrlError(f"database URL {shown}: {exc}") from None
    except ImportError as exc:
        raise DatabaseUrlError(
            f"database URL {shown}: its driver is not installed ({exc.name or exc})"
        ) from None


def masked_url(url: str) -> str:
    """``url`` with its password shown as ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as is: it holds no parsable password
        return url


@contextmanager
def open_database(url: str) -> Iterator[Engine]:
    """An engine for one command: URL checked, schema brought up to date, disposed after."""
    check_database_url(url)
    engine = create_db_engine(url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction: committed when the block ends, rolled back on error."""
    with engine.begin() as conn:
        yield conn


@contextmanager
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reading: whatever it did is rolled back when the block ends."""
    with engine.connect() as conn:
        yield conn


# The opaque handles and the error type other packages may name (type hints, ``except``)
# without importing SQLAlchemy: all SQL stays in vestnik.store.
__all__ = [
    "Connection",
    "DatabaseError",
    "Engine",
    "check_database_url",
    "connection",
    "create_db_engine",
    "inserted_id",
    "masked_url",
    "migrate",
    "now",
    "open_database",
    "schema_revision",
    "transaction",
]
