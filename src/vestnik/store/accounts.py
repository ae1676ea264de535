"""Accounts: creation with the documented defaults, settings, listing, removal.

Used by the admin CLI and by tests; the API reads these tables on its own hot path. What an
account holds is administered next to it: users and keys in ``store.admin_users``, numbers
and employees in ``store.admin_numbers``, the blacklist in ``store.admin_blacklist``.

Removal: rows that nothing refers to by key are deleted (a number, an employee, a user, a
key: sessions keep the number, contact and token id as plain values, and ids are never
reused). Audio files keep their row (``store.media``). An account is removed only while it
has no call session.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.calls.options import CallOptions
from vestnik.calls.policy import policy_of
from vestnik.config import LimitsConfig
from vestnik.store.db import inserted_id, now
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
    text_length,
    users,
    virtual_numbers,
    webhooks,
)

NAME_LENGTH = text_length(accounts.c.name)
HOME_REGION_LENGTH = text_length(accounts.c.home_region)

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


def create_account(conn: Connection, name: str, limits: LimitsConfig) -> int:
    """A new account with the documented defaults: it works out of the box from loopback."""
    if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first():
        raise AdminError(f"account {name!r} already exists")
    return inserted_id(
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
        )
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


def account_name(conn: Connection, account_id: int) -> str | None:
    """The account's name (None: no such account); the dialer's trunk routing reads it."""
    row = conn.execute(sa.select(accounts.c.name).where(accounts.c.id == account_id)).first()
    return None if row is None else str(row[0])


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


def get_call_policy(conn: Connection, account_id: int) -> CallOptions | None:
    """The account's call policy (``accounts.call_policy``; None: none)."""
    query = sa.select(accounts.c.call_policy).where(accounts.c.id == account_id)
    row = conn.execute(query).first()
    if row is None:
        raise AdminError(f"account {account_id} not found")
    return policy_of(row[0])


def set_call_policy(conn: Connection, account_id: int, policy: CallOptions | None) -> None:
    """Store the account's call policy (None or an empty one: no policy). A policy holds no
    ``collect_dtmf`` or ``collect_speech`` (a reply needs a message that asks for it) and no
    resolved zone."""
    stored = None
    if policy is not None and not policy.empty:
        window = policy.calling_window
        policy = replace(
            policy, collect_dtmf=None, collect_speech=None, source="account",
            calling_window=None if window is None else replace(window, zone=None),
        )  # fmt: skip
        stored = None if policy.empty else policy.to_json()
    query = accounts.update().where(accounts.c.id == account_id).values(call_policy=stored)
    conn.execute(query)


def list_accounts(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(accounts).order_by(accounts.c.id)).mappings()]


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
