"""Call-session reads of the command line that the dialer and the API never make."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.store.schema import call_sessions

_c = call_sessions.c


def sessions_after_or_in(
    conn: Connection, newest_seen: int, ids: Collection[int]
) -> list[dict[str, Any]]:
    """Sessions with an id above ``newest_seen`` or one of ``ids``, oldest first.

    ``vestnik demo --keep-running`` watches this way for new sessions and the ones still
    going.
    """
    wanted = _c.id > newest_seen
    if ids:
        wanted = sa.or_(wanted, _c.id.in_(ids))
    query = sa.select(call_sessions).where(wanted).order_by(_c.id)
    return [dict(r) for r in conn.execute(query).mappings()]
