"""Errors the store raises for a user to read, and what to tell a user about the driver's.

The command line prints these and exits 1 without a traceback; it never sees a SQLAlchemy or
Alembic type itself.
"""

from __future__ import annotations

from alembic.util.exc import CommandError
from sqlalchemy.exc import DBAPIError


class AdminError(ValueError):
    """An administrative request that cannot be carried out (message is user-facing)."""


class DatabaseUrlError(ValueError):
    """A database URL that cannot be used: not a URL, or its driver is missing."""


# A failed statement (the driver's error, wrapped) or a failed schema migration.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, CommandError)


def describe_database_error(exc: Exception) -> str:
    """One line for an error of :data:`DATABASE_ERRORS`: what failed, as the driver says it."""
    if isinstance(exc, DBAPIError):
        return f"database error: {_first_line(exc.orig) if exc.orig else exc}"
    return f"database schema: {exc}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
