"""Account administration: accounts, users, keys, numbers, employees, blacklist.

Used by the admin CLI and by tests; the API reads these tables on its own hot path.

Removal: rows that nothing refers to by key are deleted (a number, an employee, a user, a
key: sessions keep the number, contact and token id as plain values, and ids are never
reused). Audio files keep their row (``store.media``). An account is removed only while it
has no call session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.auth import TokenKind, hash_password, hash_token, new_token
from vestnik.config import LimitsConfig
from vestnik.store.db import now
from vestnik.store.errors import AdminError
from vestnik.store.schema import (
    access_tokens,
    accounts,
    blacklist,
    call_sessions,
    employees,
    limit_counters,
    media_files,
    numa_caller_numbers,
    users,
    virtual_numbers,
    webhooks,
)

# virtual_numbers.status, from the vendor's list (get.virtual_numbers): only active numbers
# place calls; manual_lock is a number the operator disabled.
NUMBER_ACTIVE = "active"
NUMBER_DISABLED = "manual_lock"

# What an account owns, children before parents (access_tokens refer to users). Call
# sessions and their events are not here: an account that has any is not removed.
ACCOUNT_OWNED_TABLES = (
    access_tokens,
    users,
    numa_caller_numbers,
    virtual_numbers,
    employees,
    blacklist,
    media_files,
    webhooks,
    limit_counters,
)


@dataclass(frozen=True)
class IssuedKey:
    id: int
    account_id: int
    access_token: str  # shown once, never stored
    expires_at: float | None


def create_account(conn: Connection, name: str, limits: LimitsConfig) -> int:
    """A new account with the documented defaults: it works out of the box from loopback."""
    if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first():
        raise AdminError(f"account {name!r} already exists")
    return int(
        conn.execute(
            accounts.insert().values(
                name=name,
                is_active=True,
                informer_call_enabled=True,
                number_management_enabled=False,
                ip_allowlist=list(limits.ip_allowlist),
                allow_mobile=True,
                allow_long_distance=True,
                allow_international=False,
                home_country="RU",
                minute_limit=limits.minute_limit,
                day_limit=limits.day_limit,
                tts_max_length=limits.tts_max_length,
                max_concurrent_calls=limits.max_concurrent_calls,
                method_weights=dict(limits.method_weights),
                created_at=now(),
            )
        ).inserted_primary_key[0]
    )


def resolve_account(conn: Connection, ref: str | int) -> int:
    """Account id from an id or a name."""
    if isinstance(ref, int) or str(ref).isdigit():
        row = conn.execute(sa.select(accounts.c.id).where(accounts.c.id == int(ref))).first()
        if row:
            return int(row[0])
    row = conn.execute(sa.select(accounts.c.id).where(accounts.c.name == str(ref))).first()
    if row is None:
        raise AdminError(f"account {ref!r} not found")
    return int(row[0])


def get_account(conn: Connection, account_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).mappings().first()
    if row is None:
        raise AdminError(f"account {account_id} not found")
    return dict(row)


def name_taken(conn: Connection, name: str, account_id: int) -> bool:
    """Whether another account than ``account_id`` is called ``name``."""
    query = sa.select(accounts.c.id).where(accounts.c.name == name, accounts.c.id != account_id)
    return conn.execute(query).first() is not None


def update_account(conn: Connection, account_id: int, **values: Any) -> None:
    unknown = set(values) - set(accounts.c.keys()) | ({"id", "created_at"} & set(values))
    if unknown:
        raise AdminError(f"unknown account fields: {', '.join(sorted(unknown))}")
    conn.execute(accounts.update().where(accounts.c.id == account_id).values(**values))


def create_user(conn: Connection, account_id: int, login: str, password: str) -> int:
    if conn.execute(sa.select(users.c.id).where(users.c.login == login)).first():
        raise AdminError(f"login {login!r} is taken")
    return int(
        conn.execute(
            users.insert().values(
                account_id=account_id,
                login=login,
                password_hash=hash_password(password),
                is_active=True,
                created_at=now(),
            )
        ).inserted_primary_key[0]
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
    active = row.is_active if is_active is None else is_active
    return {"id": int(row.id), "account_id": int(row.account_id), "login": login,
            "is_active": bool(active)}  # fmt: skip


def issue_token(
    conn: Connection,
    account_id: int,
    kind: TokenKind,
    *,
    user_id: int | None = None,
    expires_at: float | None = None,
) -> IssuedKey:
    token = new_token(kind)
    key_id = conn.execute(
        access_tokens.insert().values(
            account_id=account_id,
            user_id=user_id,
            token_hash=hash_token(token),
            kind=kind.value,
            expires_at=expires_at,
            is_blocked=False,
            created_at=now(),
        )
    ).inserted_primary_key[0]
    return IssuedKey(int(key_id), account_id, token, expires_at)


def block_key(conn: Connection, key_id: int) -> None:
    result = conn.execute(
        access_tokens.update().where(access_tokens.c.id == key_id).values(is_blocked=True)
    )
    if result.rowcount == 0:
        raise AdminError(f"key {key_id} not found")


def add_number(conn: Connection, account_id: int, number: str, region: str | None) -> int:
    if conn.execute(
        sa.select(virtual_numbers.c.id).where(virtual_numbers.c.number == number)
    ).first():
        raise AdminError(f"number {number} is already registered")
    return int(
        conn.execute(
            virtual_numbers.insert().values(
                account_id=account_id,
                number=number,
                region=region,
                status=NUMBER_ACTIVE,
                created_at=now(),
            )
        ).inserted_primary_key[0]
    )


def add_employee(conn: Connection, account_id: int, sip_uri: str) -> int:
    if conn.execute(
        sa.select(employees.c.id).where(
            employees.c.account_id == account_id, employees.c.sip_uri == sip_uri
        )
    ).first():
        raise AdminError(f"employee {sip_uri} is already registered for this account")
    return int(
        conn.execute(
            employees.insert().values(account_id=account_id, sip_uri=sip_uri, created_at=now())
        ).inserted_primary_key[0]
    )


def blacklist_add(
    conn: Connection, account_id: int, number: str, comment: str | None = None
) -> int:
    existing = conn.execute(
        sa.select(blacklist.c.id).where(
            blacklist.c.account_id == account_id, blacklist.c.number == number
        )
    ).first()
    if existing:
        return int(existing[0])
    return int(
        conn.execute(
            blacklist.insert().values(
                account_id=account_id, number=number, comment=comment, created_at=now()
            )
        ).inserted_primary_key[0]
    )


def blacklist_remove(conn: Connection, account_id: int, number: str) -> bool:
    result = conn.execute(
        blacklist.delete().where(blacklist.c.account_id == account_id, blacklist.c.number == number)
    )
    return result.rowcount > 0


def blacklist_list(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(blacklist.c.id, blacklist.c.number, blacklist.c.comment, blacklist.c.created_at)
        .where(blacklist.c.account_id == account_id)
        .order_by(blacklist.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def list_accounts(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(accounts).order_by(accounts.c.id)).mappings()]


def list_users(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Users of an account, without password hashes."""
    rows = conn.execute(
        sa.select(users.c.id, users.c.login, users.c.is_active, users.c.created_at)
        .where(users.c.account_id == account_id)
        .order_by(users.c.id)
    ).mappings()
    return [dict(r) for r in rows]


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


def list_numbers(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(
            virtual_numbers.c.id,
            virtual_numbers.c.number,
            virtual_numbers.c.region,
            virtual_numbers.c.status,
            virtual_numbers.c.created_at,
        )
        .where(virtual_numbers.c.account_id == account_id)
        .order_by(virtual_numbers.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def list_employees(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(employees.c.id, employees.c.sip_uri, employees.c.created_at)
        .where(employees.c.account_id == account_id)
        .order_by(employees.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def get_number(conn: Connection, account_id: int, number: str) -> dict[str, Any]:
    row = (
        conn.execute(
            sa.select(virtual_numbers).where(
                virtual_numbers.c.account_id == account_id, virtual_numbers.c.number == number
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise AdminError(f"number {number} is not a number of account {account_id}")
    return dict(row)


def set_number_status(conn: Connection, account_id: int, number: str, status: str) -> str:
    """Set a number's status; returns the status it had."""
    before = str(get_number(conn, account_id, number)["status"])
    conn.execute(
        virtual_numbers.update()
        .where(virtual_numbers.c.account_id == account_id, virtual_numbers.c.number == number)
        .values(status=status)
    )
    return before


def remove_number(conn: Connection, account_id: int, number: str) -> dict[str, Any]:
    """Delete the account's number and the contacts it was remembered for (sticky rules)."""
    row = get_number(conn, account_id, number)
    conn.execute(
        numa_caller_numbers.delete().where(
            numa_caller_numbers.c.account_id == account_id,
            numa_caller_numbers.c.number == number,
        )
    )
    conn.execute(virtual_numbers.delete().where(virtual_numbers.c.id == row["id"]))
    return row


def remove_employee(conn: Connection, account_id: int, employee_id: int) -> None:
    conn.execute(
        employees.delete().where(
            employees.c.account_id == account_id, employees.c.id == employee_id
        )
    )


def remove_user(conn: Connection, login: str) -> dict[str, Any]:
    """Delete a user and its session tokens (whoever logged in as the user is out at once)."""
    row = conn.execute(
        sa.select(users.c.id, users.c.account_id).where(users.c.login == login)
    ).first()
    if row is None:
        raise AdminError(f"user {login!r} not found")
    tokens = conn.execute(access_tokens.delete().where(access_tokens.c.user_id == row.id))
    conn.execute(users.delete().where(users.c.id == row.id))
    return {
        "id": int(row.id),
        "account_id": int(row.account_id),
        "login": login,
        "tokens_deleted": tokens.rowcount,
    }


def remove_key(conn: Connection, key_id: int) -> dict[str, Any]:
    key = get_key(conn, key_id)
    conn.execute(access_tokens.delete().where(access_tokens.c.id == key_id))
    return key


def _session_count(conn: Connection, account_id: int) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(call_sessions)
        .where(call_sessions.c.account_id == account_id)
    )
    return int(conn.execute(query).scalar_one())


def remove_account(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Delete an account that never had a call session, with everything it owns.

    Returns its media-file rows: their audio files are the caller's to delete once this
    transaction has committed.
    """
    sessions = _session_count(conn, account_id)
    if sessions:
        raise AdminError(
            f"account {account_id} has {sessions} call sessions, which must keep reporting "
            "what they used: deactivate it instead (vestnik admin account deactivate)"
        )
    media = [
        dict(r)
        for r in conn.execute(
            sa.select(media_files).where(media_files.c.account_id == account_id)
        ).mappings()
    ]
    for table in ACCOUNT_OWNED_TABLES:
        conn.execute(table.delete().where(table.c.account_id == account_id))
    conn.execute(accounts.delete().where(accounts.c.id == account_id))
    return media
