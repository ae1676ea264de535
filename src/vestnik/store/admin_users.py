"""Users and their access tokens: API logins (``login.user``) and permanent API keys.

A token is stored only as its hash: :func:`issue_token` returns it once. Removing a user
deletes its session tokens, so whoever logged in as the user is out at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.auth import TokenKind, hash_password, hash_token, new_token
from vestnik.store.console import end_user_sessions, login_taken
from vestnik.store.db import inserted_id, now
from vestnik.store.errors import AdminError
from vestnik.store.schema import access_tokens, text_length, users

LOGIN_LENGTH = text_length(users.c.login)


@dataclass(frozen=True)
class IssuedKey:
    id: int
    account_id: int
    access_token: str  # shown once, never stored
    expires_at: float | None


def create_user(conn: Connection, account_id: int, login: str, password: str) -> int:
    if login_taken(conn, login):
        raise AdminError(f"login {login!r} is taken")
    return inserted_id(
        conn.execute(
            users.insert().values(
                account_id=account_id,
                login=login,
                password_hash=hash_password(password),
                is_active=True,
                created_at=now(),
            )
        )
    )


def update_user(
    conn: Connection, login: str, *, password: str | None = None, is_active: bool | None = None
) -> dict[str, Any]:
    """Change a user's password and/or active flag; returns ``{"id", "account_id", ...}``.

    Either change also blocks the user's session tokens: whoever logged in with the old
    password (or as the user now switched off) is out at once, not when the hour ends.
    """
    row = conn.execute(
        sa.select(users.c.id, users.c.account_id, users.c.is_active).where(users.c.login == login)
    ).first()
    if row is None:
        raise AdminError(f"user {login!r} not found")
    values: dict[str, Any] = {}
    if password is not None:
        values["password_hash"] = hash_password(password)
    if is_active is not None:
        values["is_active"] = is_active
    if values:
        conn.execute(users.update().where(users.c.id == row.id).values(**values))
        conn.execute(
            access_tokens.update()
            .where(
                access_tokens.c.user_id == row.id,
                access_tokens.c.kind == TokenKind.SESSION.value,
            )
            .values(is_blocked=True)
        )
        end_user_sessions(conn, int(row.id))
    active = row.is_active if is_active is None else is_active
    return {"id": int(row.id), "account_id": int(row.account_id), "login": login,
            "is_active": bool(active)}  # fmt: skip


def list_users(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Users of an account, without password hashes."""
    rows = conn.execute(
        sa.select(users.c.id, users.c.login, users.c.is_active, users.c.created_at)
        .where(users.c.account_id == account_id)
        .order_by(users.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def remove_user(conn: Connection, login: str) -> dict[str, Any]:
    """Delete a user and its session tokens (whoever logged in as the user is out at once)."""
    row = conn.execute(
        sa.select(users.c.id, users.c.account_id).where(users.c.login == login)
    ).first()
    if row is None:
        raise AdminError(f"user {login!r} not found")
    tokens = conn.execute(access_tokens.delete().where(access_tokens.c.user_id == row.id))
    end_user_sessions(conn, int(row.id))
    conn.execute(users.delete().where(users.c.id == row.id))
    return {
        "id": int(row.id),
        "account_id": int(row.account_id),
        "login": login,
        "tokens_deleted": tokens.rowcount,
    }


def issue_token(
    conn: Connection,
    account_id: int,
    kind: TokenKind,
    *,
    user_id: int | None = None,
    expires_at: float | None = None,
) -> IssuedKey:
    token = new_token(kind)
    key_id = inserted_id(
        conn.execute(
            access_tokens.insert().values(
                account_id=account_id,
                user_id=user_id,
                token_hash=hash_token(token),
                kind=kind.value,
                expires_at=expires_at,
                is_blocked=False,
                created_at=now(),
            )
        )
    )
    return IssuedKey(key_id, account_id, token, expires_at)


def list_keys(
    conn: Connection, account_id: int, kind: TokenKind | None = None
) -> list[dict[str, Any]]:
    """Access tokens of an account (never the token itself, which is not stored)."""
    query = sa.select(
        access_tokens.c.id,
        access_tokens.c.kind,
        access_tokens.c.user_id,
        access_tokens.c.is_blocked,
        access_tokens.c.expires_at,
        access_tokens.c.created_at,
    ).where(access_tokens.c.account_id == account_id)
    if kind is not None:
        query = query.where(access_tokens.c.kind == kind.value)
    return [dict(r) for r in conn.execute(query.order_by(access_tokens.c.id)).mappings()]


def get_key(conn: Connection, key_id: int) -> dict[str, Any]:
    row = (
        conn.execute(
            sa.select(
                access_tokens.c.id,
                access_tokens.c.account_id,
                access_tokens.c.kind,
                access_tokens.c.is_blocked,
                access_tokens.c.expires_at,
                access_tokens.c.created_at,
            ).where(access_tokens.c.id == key_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise AdminError(f"key {key_id} not found")
    return dict(row)


def block_key(conn: Connection, key_id: int) -> None:
    result = conn.execute(
        access_tokens.update().where(access_tokens.c.id == key_id).values(is_blocked=True)
    )
    if result.rowcount == 0:
        raise AdminError(f"key {key_id} not found")


def remove_key(conn: Connection, key_id: int) -> dict[str, Any]:
    key = get_key(conn, key_id)
    conn.execute(access_tokens.delete().where(access_tokens.c.id == key_id))
    return key
