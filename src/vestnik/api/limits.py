"""Points per minute and per day per account, charged exactly under concurrency.

Windows are fixed: the calendar minute and the UTC day. A successful request is charged with a
conditional UPDATE per window (``used + weight <= limit``, day first, then minute) in the same
transaction as the request's own writes, so N parallel requests against a remaining quota of K
admit exactly K on SQLite (one writer at a time) and on PostgreSQL (the UPDATE locks the row and
re-checks the condition on the newest version; a fixed lock order rules out deadlocks). A
refusal raises, and the caller's transaction rolls back everything, the other window included.
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
from vestnik.store.prepared import Prepared
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


def method_weight(account: Mapping[str, Any], method: str, default: int) -> int:
    """Points ``method`` costs ``account``: its ``method_weights`` entry, else ``default``."""
    weights = account.get("method_weights") or {}
    weight = weights.get(method) if isinstance(weights, dict) else None
    return int(weight) if weight is not None else default


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
            c.period == sa.bindparam("b_period"),
            c.window_start == sa.bindparam("b_window_start"),
            c.used + weight <= sa.bindparam("cap", type_=sa.Integer),
        )
        .values(used=c.used + weight)
        .returning(c.used)
    )


# Built once: statement construction costs more than executing it on SQLite.
_CHARGE = Prepared(_build_charge())


def _ensure_window(conn: Connection, account_id: int, period: str, start: int) -> None:
    """Create the window's counter row if missing; a new window drops the account's older ones."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    c = limit_counters.c
    stmt = insert(limit_counters).values(
        account_id=account_id, period=period, window_start=start, used=0
    )
    if conn.execute(stmt.on_conflict_do_nothing()).rowcount:
        conn.execute(
            limit_counters.delete().where(
                c.account_id == account_id, c.period == period, c.window_start < start
            )
        )


def charge(conn: Connection, limits: AccountLimits, weight: int, at: float) -> dict[str, int]:
    """Spend ``weight`` points in both windows or raise ``limit_exceeded``.

    The day row is always locked before the minute row, so concurrent charges on PostgreSQL
    queue on the day row instead of deadlocking. On refusal nothing is undone here: the error
    rolls the caller's transaction back, the charge of the first window included.
    """
    used: dict[str, int] = {}
    for period in (DAY, MINUTE):
        params = {
            "b_account_id": limits.account_id,
            "b_period": period,
            "b_window_start": window_start(period, at),
            "weight": weight,
            "cap": limits.limit(period),
        }
        row = _CHARGE.first(conn, params)
        if row is None:
            _ensure_window(conn, limits.account_id, period, params["b_window_start"])
            row = _CHARGE.first(conn, params)
        if row is None:
            usage = current_usage(conn, limits.account_id, at)
            if period == MINUTE:
                # The day window was charged above; report the state before this request.
                usage[DAY] = usage.get(DAY, 0) - weight
            raise LimitExceeded(period, limits.limit(period), render_limits(limits, usage, at))
        used[period] = int(row[0])
    return render_limits(limits, used, at)


class LimitExceeded(ApiError):
    def __init__(self, period: str, cap: int, limits: dict[str, int]) -> None:
        super().__init__("limit_exceeded", params={"limit_type": period, "limit_max_value": cap})
        self.limits = limits
