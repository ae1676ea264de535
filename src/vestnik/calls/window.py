"""Calling windows in time: is a window open at an instant, and when does it open next.

A window is local wall-clock time in a zone (:class:`vestnik.calls.options.CallingWindow`):
open from ``start`` (inclusive) to ``till`` (exclusive) minutes after local midnight; ``till``
below ``start`` wraps past midnight (22:00-06:00 is open at 23:00 and at 05:59), ``till``
1440 ("24:00") is midnight. The zone's rules come from ``zoneinfo``, so a day with a DST
change has its real length: on the day clocks go forward a window inside the skipped hour
opens when the clocks jump past its start (the wall clock never shows 02:30, but at 03:00 it
is past it); on the day they go back, the repeated hour is open (or closed) both times.

Pure: instants are Unix seconds (floats), the same as every time the store keeps.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from vestnik.calls.options import CallingWindow

DEFAULT_ZONE = "Europe/Moscow"  # when nothing else names a zone
_DAY = 86_400.0
# A window is open at least once within this many local days of any instant: a window of
# at least one minute a day can lose one day at most to a DST gap.
_HORIZON_DAYS = 3


@lru_cache(maxsize=512)
def zone_of(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _zone(window: CallingWindow, zone: str | None) -> ZoneInfo:
    return zone_of(zone or window.zone or DEFAULT_ZONE)


def _local_minute(at: float, tz: ZoneInfo) -> float:
    """Minutes after local midnight at ``at``. From the instant itself plus the zone's offset
    (offsets change on whole seconds): a ``datetime`` would round ``at`` to the microsecond,
    and an instant half a microsecond before a window's start would read as open."""
    offset = _offset(math.floor(at), tz) or timedelta(0)
    return ((at + offset.total_seconds()) % _DAY) / 60


def _covers(window: CallingWindow, minute: float) -> bool:
    if window.start < window.till:
        return window.start <= minute < window.till
    return minute >= window.start or minute < window.till  # wraps past midnight


def is_open(window: CallingWindow, at: float, zone: str | None = None) -> bool:
    """Whether the window is open at ``at`` in ``zone`` (default: the window's own resolved
    zone, else Europe/Moscow)."""
    return _covers(window, _local_minute(at, _zone(window, zone)))


def next_opening(window: CallingWindow, at: float, zone: str | None = None) -> float:
    """The first instant at or after ``at`` at which the window is open (``at`` itself when it
    is open then).

    Whether the window is open changes only where the local clock passes ``start`` or
    ``till``, or jumps (a change of the zone's offset). So the opening is the earliest of
    these instants after ``at`` at which the window is open: each local day's ``start`` (both
    readings of a time the clocks repeat) and each offset change, over a few days ahead.
    """
    tz = _zone(window, zone)
    if _covers(window, _local_minute(at, tz)):
        return at
    local = datetime.fromtimestamp(at, tz)
    changes = _offset_changes(at, tz)
    if not changes:  # the common case: the local clock runs evenly up to the next start
        today = datetime(local.year, local.month, local.day, tzinfo=tz)
        for days in (0, 1):
            instant = (today + timedelta(days=days, minutes=window.start)).timestamp()
            if instant > at:
                return instant
    candidates = _start_instants(window, at, tz) + changes
    for instant in sorted(c for c in candidates if c > at):
        if _covers(window, _local_minute(instant, tz)):
            return instant
    raise AssertionError(f"a calling window that never opens: {window}")  # pragma: no cover


def _start_instants(window: CallingWindow, at: float, tz: ZoneInfo) -> list[float]:
    """The instants each local day's wall clock reads ``start`` (from the day of ``at``)."""
    today = datetime.fromtimestamp(at, tz).date()
    out: list[float] = []
    for days in range(_HORIZON_DAYS + 1):
        day = today + timedelta(days=days)
        naive = datetime(day.year, day.month, day.day) + timedelta(minutes=window.start)
        for fold in (0, 1):
            out.append(naive.replace(tzinfo=tz, fold=fold).timestamp())
    return out


def _offset_changes(at: float, tz: ZoneInfo) -> list[float]:
    """Every instant within the horizon at which the zone's UTC offset changes (to the
    second), found by halving the day on which the offset differs."""
    out: list[float] = []
    start = at
    for _ in range(_HORIZON_DAYS + 1):
        end = start + _DAY
        if _offset(start, tz) != _offset(end, tz):
            # Changes fall on whole seconds: halve whole seconds down to the first one.
            low, high = math.floor(start), math.ceil(end)
            before = _offset(low, tz)
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(middle, tz) == before:
                    low = middle
                else:
                    high = middle
            out.append(float(high))
        start = end
    return out


def _offset(at: float, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(at, UTC).astimezone(tz).utcoffset()
