"""The numbers (and employees' SIP URIs) an account must never call, as administered."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.store.db import inserted_id, now
from vestnik.store.schema import blacklist, users


def blacklist_entry(conn: Connection, account_id: int, number: str) -> int | None:
    """The id of the account's entry for ``number`` as stored, if there is one."""
    found = conn.execute(
        sa.select(blacklist.c.id).where(
            blacklist.c.account_id == account_id, blacklist.c.number == number
        )
    ).first()
    return None if found is None else int(found[0])


def blacklist_add(
    conn: Connection,
    account_id: int,
    number: str,
    comment: str | None = None,
    *,
    user_id: int | None = None,
) -> int:
    """Add ``number`` (idempotent: a listed number keeps its entry); ``user_id``: the user
    whose token added it (its login is kept as the entry's ``add_user_name``)."""
    existing = blacklist_entry(conn, account_id, number)
    if existing is not None:
        return existing
    added_by = None
    if user_id is not None:
        added_by = sa.select(users.c.login).where(users.c.id == user_id).scalar_subquery()
    return inserted_id(
        conn.execute(
            blacklist.insert().values(
                account_id=account_id, number=number, comment=comment, added_by=added_by,
                created_at=now(),
            )
        )
    )  # fmt: skip


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
