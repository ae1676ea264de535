"""Points per minute and per day per account, charged exactly under concurrency.

Windows are fixed: the calendar minute and the UTC day. A successful request is charged with one
conditional UPDATE over both counter rows (``used + weight <= limit``) in the same transaction as
the request's own writes, so N parallel requests against a remaining quota of K admit exactly K on
SQLite (one writer at a time) and on PostgreSQL (the UPDATE locks the rows and re-checks the
condition on the newest version). A partial update (one window missing or spent) is undone in the
same transaction before the error is raised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from vestnik.api.errors import ApiError
from vestnik.api.fastsql import Prepared
from vestnik.store.schema import limit_counters

MINUTE = "minute"
DAY = "day"
_SECONDS = {MINUTE: 60, DAY: 86_400}


@dataclass(frozen=True)
class AccountLimits:
    account_id: int
    minute_limit: int
    day_limit: int

    def limit(self, period: str) -> int:
        return self.minute_limit if period == MINUTE else self.day_limit


def window_start(period: str, at: float) -> int:
    size = _SECONDS[period]
    return int(at // size) * size


def render_limits(limits: AccountLimits, used: Mapping[str, int], at: float) -> dict[str, int]:
    """``metadata.limits``: remaining points and whole seconds until each window resets."""
    out: dict[str, int] = {}
    for period in (DAY, MINUTE):
        cap = limits.limit(period)
        reset = window_start(period, at) + _SECONDS[period] - at
        out[f"{period}_limit"] = cap
        out[f"{period}_remaining"] = max(0, cap - used.get(period, 0))
        out[f"{period}_reset"] = max(1, math.ceil(reset))
    return out


def current_usage(conn: Connection, account_id: int, at: float) -> dict[str, int]:
    rows = conn.execute(
        sa.select(limit_counters.c.period, limit_counters.c.used).where(
            limit_counters.c.account_id == account_id,
            sa.or_(
                sa.and_(limit_counters.c.period == MINUTE,
                        limit_counters.c.window_start == window_start(MINUTE, at)),
                sa.and_(limit_counters.c.period == DAY,
                        limit_counters.c.window_start == window_start(DAY, at)),
            ),
        )
    ).all()  # fmt: skip
    return {str(period): int(used) for period, used in rows}


def peek(conn: Connection, limits: AccountLimits, at: float) -> dict[str, int]:
    """``metadata.limits`` without charging (for error replies)."""
    return render_limits(limits, current_usage(conn, limits.account_id, at), at)


def _build_charge() -> Any:
    c = limit_counters.c
    weight = sa.bindparam("weight", type_=sa.Integer)
    return (
        limit_counters.update()
        .where(
            c.account_id == sa.bindparam("b_account_id"),
            sa.or_(
                sa.and_(c.period == MINUTE, c.window_start == sa.bindparam("minute_start"),
                        c.used + weight <= sa.bindparam("minute_cap", type_=sa.Integer)),
                sa.and_(c.period == DAY, c.window_start == sa.bindparam("day_start"),
                        c.used + weight <= sa.bindparam("day_cap", type_=sa.Integer)),
            ),
        )
        .values(used=c.used + weight)
        .returning(c.period, c.used)
    )  # fmt: skip


# Built once: statement construction costs more than executing it on SQLite.
_CHARGE = Prepared(_build_charge())


def _undo(conn: Connection, limits: AccountLimits, weight: int, at: float, periods: Any) -> None:
    c = limit_counters.c
    for period in periods:
        conn.execute(
            limit_counters.update()
            .where(c.account_id == limits.account_id, c.period == period,
                   c.window_start == window_start(period, at))
            .values(used=c.used - weight)
        )  # fmt: skip


def _ensure_windows(conn: Connection, limits: AccountLimits, at: float) -> None:
    """Create this minute's and this day's counter rows; drop the account's older windows."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    c = limit_counters.c
    for period in (MINUTE, DAY):
        start = window_start(period, at)
        stmt = insert(limit_counters).values(
            account_id=limits.account_id, period=period, window_start=start, used=0
        )
        result = conn.execute(stmt.on_conflict_do_nothing())
        if result.rowcount:
            conn.execute(
                limit_counters.delete().where(
                    c.account_id == limits.account_id, c.period == period, c.window_start < start
                )
            )


def charge(conn: Connection, limits: AccountLimits, weight: int, at: float) -> dict[str, int]:
    """Spend ``weight`` points in both windows or raise ``limit_exceeded`` (nothing spent)."""
    for attempt in range(2):
        params = {
            "b_account_id": limits.account_id,
            "weight": weight,
            "minute_start": window_start(MINUTE, at),
            "minute_cap": limits.minute_limit,
            "day_start": window_start(DAY, at),
            "day_cap": limits.day_limit,
        }
        used = {str(p): int(u) for p, u in _CHARGE.all(conn, params)}
        if len(used) == 2:
            return render_limits(limits, used, at)
        if used:
            _undo(conn, limits, weight, at, used)
        if attempt == 0:
            _ensure_windows(conn, limits, at)
    usage = current_usage(conn, limits.account_id, at)
    spent = MINUTE if usage.get(MINUTE, 0) + weight > limits.minute_limit else DAY
    raise LimitExceeded(spent, limits.limit(spent), render_limits(limits, usage, at))


class LimitExceeded(ApiError):
    def __init__(self, period: str, cap: int, limits: dict[str, int]) -> None:
        super().__init__("limit_exceeded", params={"limit_type": period, "limit_max_value": cap})
        self.limits = limits
