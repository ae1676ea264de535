"""Points per minute and per day per account, charged exactly under concurrency.

Windows are fixed: the calendar minute and the UTC day. A successful request is charged with a
conditional UPDATE per window (``used + weight <= limit``, day first, then minute) in the same
transaction as the request's own writes, so N parallel requests against a remaining quota of K
admit exactly K on SQLite (one writer at a time) and on PostgreSQL (the UPDATE locks the row and
re-checks the condition on the newest version; a fixed lock order rules out deadlocks). A
refusal raises, and the caller's transaction rolls back everything, the other window included.
The counters' SQL is :mod:`vestnik.store.points`; the rules are here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vestnik.api.errors import ApiError
from vestnik.store import points
from vestnik.store.db import Connection

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
    windows = {period: window_start(period, at) for period in (MINUTE, DAY)}
    return points.used(conn, account_id, windows)


def peek(conn: Connection, limits: AccountLimits, at: float) -> dict[str, int]:
    """``metadata.limits`` without charging (for error replies)."""
    return render_limits(limits, current_usage(conn, limits.account_id, at), at)


def charge(conn: Connection, limits: AccountLimits, weight: int, at: float) -> dict[str, int]:
    """Spend ``weight`` points in both windows or raise ``limit_exceeded``.

    The day row is always locked before the minute row, so concurrent charges on PostgreSQL
    queue on the day row instead of deadlocking. On refusal nothing is undone here: the error
    rolls the caller's transaction back, the charge of the first window included.
    """
    used: dict[str, int] = {}
    for period in (DAY, MINUTE):
        cap = limits.limit(period)
        total = points.spend(conn, limits.account_id, period, window_start(period, at), weight, cap)
        if total is None:
            usage = current_usage(conn, limits.account_id, at)
            if period == MINUTE:
                # The day window was charged above; report the state before this request.
                usage[DAY] = usage.get(DAY, 0) - weight
            raise LimitExceeded(period, cap, render_limits(limits, usage, at))
        used[period] = total
    return render_limits(limits, used, at)


class LimitExceeded(ApiError):
    def __init__(self, period: str, cap: int, limits: dict[str, int]) -> None:
        super().__init__("limit_exceeded", params={"limit_type": period, "limit_max_value": cap})
        self.limits = limits
