"""Storage: SQLAlchemy Core tables, engine set-up, Alembic migrations."""

from vestnik.store.db import create_db_engine, migrate, now
from vestnik.store.schema import metadata

__all__ = ["create_db_engine", "metadata", "migrate", "now"]
