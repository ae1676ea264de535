"""The numbers (and employees' SIP URIs) an account must never call, as administered."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.store.db import inserted_id, now
from vestnik.store.schema import blacklist


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
    return inserted_id(
        conn.execute(
            blacklist.insert().values(
                account_id=account_id, number=number, comment=comment, created_at=now()
            )
        )
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
