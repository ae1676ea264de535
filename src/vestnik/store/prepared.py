"""Hot-path statements compiled once per dialect and run on the driver's cursor.

SQLAlchemy Core spends ~60-200 µs per execute in Python (cache key, context, result proxy);
the driver itself needs ~5-20 µs on SQLite. The request path runs a handful of statements, so
it uses ``Prepared``: a Core statement compiled once per dialect, executed on the DBAPI cursor
of the SQLAlchemy connection, inside the connection's transaction. Values are passed as the
driver takes them (no SQLAlchemy type processing): use plain int/float/str/bool/None, and read
JSON columns through ``json_value`` (SQLite returns text, psycopg decoded objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_decode = msgspec.json.decode


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # positional drivers: parameter order
    literals: dict[str, Any]


class Prepared:
    def __init__(self, statement: ClauseElement, column_keys: list[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = column_keys
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
            if not isinstance(compiled, SQLCompiler):
                raise TypeError(f"not a SQL statement to prepare: {self.statement!r}")
            positional = dialect.paramstyle in ("qmark", "numeric", "format")
            names = tuple(compiled.positiontup or ()) if positional else None
            # Literals of the statement ("active", "minute") are bind parameters with values.
            literals = {k: v for k, v in compiled.params.items() if v is not None}
            found = _Compiled(compiled.string, names, literals)
            self._compiled[dialect.name] = found
        return found

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run on ``conn``'s driver connection; returns the DBAPI cursor."""
        compiled = self._for(conn.dialect)
        values = {**compiled.literals, **params} if compiled.literals else params
        driver = conn.connection.dbapi_connection
        if driver is None:  # only once the pooled connection was invalidated
            raise ValueError("the connection has no driver connection (invalidated)")
        cursor = driver.cursor()
        if compiled.names is not None:
            cursor.execute(compiled.sql, [values[n] for n in compiled.names])
        else:
            cursor.execute(compiled.sql, dict(values))
        return cursor

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        cursor = self.execute(conn, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else tuple(row)

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cursor = self.execute(conn, params)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()


def json_value(value: Any) -> Any:
    """A JSON column's value from either driver."""
    if isinstance(value, str | bytes):
        return _decode(value)
    return value
