"""Access tokens on the request path: whose a token is, the login of a user, logout.

Issuing and blocking keys is account administration (:mod:`vestnik.store.admin_users`). The
token lookup runs on every API request, so it is a :class:`Prepared` statement (one indexed
query by the token's hash) returning the token and its account's row together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.store.prepared import Prepared, json_value
from vestnik.store.schema import access_tokens, accounts, users

_ACCOUNT_COLUMNS = [c for c in accounts.c if c.name != "created_at"]
_ACCOUNT_NAMES = tuple(c.name for c in _ACCOUNT_COLUMNS)
_BOOLEANS = frozenset(c.name for c in _ACCOUNT_COLUMNS if isinstance(c.type, sa.Boolean))
_JSONS = frozenset(c.name for c in _ACCOUNT_COLUMNS if isinstance(c.type, sa.JSON))

# A token (by its hash, ``token_hash``) and its account's row: read by :func:`find_token` and,
# with the facts of a new call, by the asynchronous hot path (:mod:`vestnik.store.intake_pg`).
TOKEN_SELECT = (
    sa.select(
        access_tokens.c.id.label("token_id"),
        access_tokens.c.kind,
        access_tokens.c.expires_at,
        access_tokens.c.is_blocked,
        access_tokens.c.user_id,
        users.c.is_active.label("user_active"),
        *_ACCOUNT_COLUMNS,
    )
    .select_from(
        access_tokens.join(accounts, accounts.c.id == access_tokens.c.account_id).outerjoin(
            users, users.c.id == access_tokens.c.user_id
        )
    )
    .where(access_tokens.c.token_hash == sa.bindparam("token_hash"))
)
TOKEN_COLUMNS = len(TOKEN_SELECT.selected_columns)
_TOKEN_QUERY = Prepared(TOKEN_SELECT)


@dataclass(frozen=True)
class TokenRecord:
    """A stored token and its account's row (every column but ``created_at``)."""

    token_id: int
    kind: str
    expires_at: float | None
    is_blocked: bool
    user_id: int | None
    user_active: bool | None  # None: a key of the account, not of a user
    account: dict[str, Any]


@dataclass(frozen=True)
class UserLogin:
    user_id: int
    account_id: int
    password_hash: str
    is_active: bool


def _account_dict(values: Sequence[Any]) -> dict[str, Any]:
    account = dict(zip(_ACCOUNT_NAMES, values, strict=True))
    for name in _BOOLEANS:
        account[name] = bool(account[name])
    for name in _JSONS:
        account[name] = json_value(account[name])
    return account


def find_token(conn: Connection, token_hash: str) -> TokenRecord | None:
    row = _TOKEN_QUERY.first(conn, {"token_hash": token_hash})
    return None if row is None else token_record(row)


def token_record(row: Sequence[Any]) -> TokenRecord:
    """The record of a row of :data:`TOKEN_SELECT`'s columns."""
    token_id, kind, expires_at, is_blocked, user_id, user_active = row[:6]
    return TokenRecord(
        int(token_id),
        str(kind),
        expires_at,
        bool(is_blocked),
        user_id,
        None if user_active is None else bool(user_active),
        _account_dict(row[6:]),
    )


def load_account(conn: Connection, account_id: int) -> dict[str, Any] | None:
    """The account's row as :class:`TokenRecord` gives it, or None."""
    row = conn.execute(sa.select(*_ACCOUNT_COLUMNS).where(accounts.c.id == account_id)).first()
    return None if row is None else _account_dict(tuple(row))


def find_login(conn: Connection, login: str) -> UserLogin | None:
    row = conn.execute(
        sa.select(users.c.id, users.c.account_id, users.c.password_hash, users.c.is_active)
        .where(users.c.login == login)
    ).first()  # fmt: skip
    if row is None:
        return None
    return UserLogin(int(row.id), int(row.account_id), str(row.password_hash), bool(row.is_active))


def delete_token(conn: Connection, token_id: int) -> None:
    conn.execute(access_tokens.delete().where(access_tokens.c.id == token_id))
