"""Operators: the console's people who see and manage every account.

An operator's login is distinct from every account user's login (one login form serves both);
blocking or removing an operator ends its console sessions at once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vestnik.auth import hash_password
from vestnik.store.console import login_taken
from vestnik.store.db import Connection, inserted_id, now
from vestnik.store.errors import AdminError
from vestnik.store.schema import console_sessions, operators, text_length

OPERATOR_LOGIN_LENGTH = text_length(operators.c.login)


def create_operator(conn: Connection, login: str, password: str) -> int:
    if login_taken(conn, login):
        raise AdminError(f"login {login!r} is taken")
    return inserted_id(
        conn.execute(
            operators.insert().values(
                login=login,
                password_hash=hash_password(password),
                is_blocked=False,
                created_at=now(),
            )
        )
    )


def list_operators(conn: Connection) -> list[dict[str, Any]]:
    """Every operator, without password hashes."""
    rows = conn.execute(
        sa.select(operators.c.id, operators.c.login, operators.c.is_blocked, operators.c.created_at)
        .order_by(operators.c.id)
    ).mappings()  # fmt: skip
    return [dict(r) for r in rows]


def _operator_id(conn: Connection, login: str) -> int:
    row = conn.execute(sa.select(operators.c.id).where(operators.c.login == login)).first()
    if row is None:
        raise AdminError(f"operator {login!r} not found")
    return int(row.id)


def _end_sessions(conn: Connection, operator_id: int) -> int:
    deleted = conn.execute(
        console_sessions.delete().where(console_sessions.c.operator_id == operator_id)
    )
    return int(deleted.rowcount)


def set_operator_blocked(conn: Connection, login: str, blocked: bool) -> dict[str, Any]:
    """Block (its console sessions end at once) or unblock an operator."""
    operator_id = _operator_id(conn, login)
    was = conn.execute(
        sa.select(operators.c.is_blocked).where(operators.c.id == operator_id)
    ).scalar_one()
    conn.execute(operators.update().where(operators.c.id == operator_id).values(is_blocked=blocked))
    ended = _end_sessions(conn, operator_id) if blocked else 0
    return {"id": operator_id, "login": login, "is_blocked": blocked,
            "was_blocked": bool(was), "sessions_ended": ended}  # fmt: skip


def set_operator_password(conn: Connection, login: str, password: str) -> dict[str, Any]:
    """A new password; the operator's console sessions end (log in again with it)."""
    operator_id = _operator_id(conn, login)
    conn.execute(
        operators.update()
        .where(operators.c.id == operator_id)
        .values(password_hash=hash_password(password))
    )
    return {"id": operator_id, "login": login, "sessions_ended": _end_sessions(conn, operator_id)}


def remove_operator(conn: Connection, login: str) -> dict[str, Any]:
    operator_id = _operator_id(conn, login)
    ended = _end_sessions(conn, operator_id)
    conn.execute(operators.delete().where(operators.c.id == operator_id))
    return {"id": operator_id, "login": login, "removed": True, "sessions_ended": ended}
