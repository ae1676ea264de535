"""Points counters (``limit_counters``): one row per account, period and window.

A charge is one conditional UPDATE (``used + weight <= cap``): on SQLite one writer runs at a
time; on PostgreSQL the UPDATE locks the row and re-checks the condition on its newest
version. So concurrent charges against a remaining quota of K admit exactly K. The rules
(which windows, in which order, what a refusal answers) are the API's (:mod:`vestnik.api.limits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from vestnik.store.prepared import Prepared
from vestnik.store.schema import limit_counters

_c = limit_counters.c


def _build_charge() -> Any:
    weight = sa.bindparam("weight", type_=sa.Integer)
    return (
        limit_counters.update()
        .where(
            _c.account_id == sa.bindparam("b_account_id"),
            _c.period == sa.bindparam("b_period"),
            _c.window_start == sa.bindparam("b_window_start"),
            _c.used + weight <= sa.bindparam("cap", type_=sa.Integer),
        )
        .values(used=_c.used + weight)
        .returning(_c.used)
    )


# Built once: statement construction costs more than executing it on SQLite.
_CHARGE = Prepared(_build_charge())


def spend(
    conn: Connection, account_id: int, period: str, window_start: int, weight: int, cap: int
) -> int | None:
    """Add ``weight`` to the window's counter if it stays within ``cap``: the new total, or
    None when the window cannot take it (nothing changed)."""
    params = {
        "b_account_id": account_id,
        "b_period": period,
        "b_window_start": window_start,
        "weight": weight,
        "cap": cap,
    }
    row = _CHARGE.first(conn, params)
    if row is None:
        _ensure_window(conn, account_id, period, window_start)
        row = _CHARGE.first(conn, params)
    return None if row is None else int(row[0])


def _ensure_window(conn: Connection, account_id: int, period: str, start: int) -> None:
    """Create the window's counter row if missing; a new window drops the account's older ones."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(limit_counters).values(
        account_id=account_id, period=period, window_start=start, used=0
    )
    if conn.execute(stmt.on_conflict_do_nothing()).rowcount:
        conn.execute(
            limit_counters.delete().where(
                _c.account_id == account_id, _c.period == period, _c.window_start < start
            )
        )


def used(conn: Connection, account_id: int, windows: Mapping[str, int]) -> dict[str, int]:
    """Points used in each ``period → window start`` of ``windows`` (periods never charged
    in that window are left out)."""
    rows = conn.execute(
        sa.select(_c.period, _c.used).where(
            _c.account_id == account_id,
            sa.or_(
                *(
                    sa.and_(_c.period == period, _c.window_start == start)
                    for period, start in windows.items()
                )
            ),
        )
    ).all()
    return {str(period): int(count) for period, count in rows}
