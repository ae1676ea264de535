"""When a session's next attempt may start: the retry rule and the calling window.

Pure functions of the stored options and a time (UNIX seconds). The dialer's store calls them
in the transaction that ends an attempt (``store.attempts``) and in the claim (a session whose
window is closed now waits for its opening).

``window_opening`` is the minimal calling-window function the retry rule needs; the intake's
own window rules live in ``calls.window`` (helper "intake" owns that module).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vestnik.calls.model import FinishReason
from vestnik.calls.options import CONTACT_ZONE, CallingWindow, CallOptions

# The zone of a window whose zone was not resolved for the session (documented default).
DEFAULT_ZONE = "Europe/Moscow"


def window_zone(window: CallingWindow) -> ZoneInfo:
    """The zone the window is read in: the one resolved at intake, else the requested IANA
    name, else ``DEFAULT_ZONE`` (also for a name this machine's tz database does not know)."""
    for name in (window.zone, None if window.timezone == CONTACT_ZONE else window.timezone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo(DEFAULT_ZONE)


def window_open(window: CallingWindow, at: float) -> bool:
    """Whether ``at`` is inside the window (``from`` inclusive, ``till`` exclusive; ``till`` <
    ``from`` wraps past midnight; ``from`` = ``till`` is the whole day)."""
    local = datetime.fromtimestamp(at, window_zone(window))
    minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    start, till = window.start, window.till
    if start == till:
        return True
    if start < till:
        return start <= minute < till
    return minute >= start or minute < till


def window_opening(window: CallingWindow | None, at: float) -> float:
    """``at`` when the window is open then (or there is none), else the next time it opens."""
    if window is None or window_open(window, at):
        return at
    zone = window_zone(window)
    day = datetime.fromtimestamp(at, zone).date()
    for offset in range(3):  # today's opening, else tomorrow's (a DST day may shift it)
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=offset)
        opening = (midnight + timedelta(minutes=window.start)).astimezone(UTC).timestamp()
        if opening > at:
            return opening
    return at  # unreachable for a valid window: dial rather than wait forever


def next_attempt_at(
    options: CallOptions | None,
    reason: FinishReason,
    attempts_made: int,
    end: float,
    *,
    released: bool = False,
) -> float | None:
    """When the next attempt of a session starts, or None: the session ends now.

    Retried only when the session runs with a ``retry`` whose ``on`` lists ``reason``, fewer
    than ``attempts`` attempts were made, and no ``release.call`` asked to end it. The next
    INVITE is ``interval`` seconds after the end of this attempt, moved to the next opening of
    the calling window when the window is closed then.
    """
    if options is None or options.retry is None or released:
        return None
    retry = options.retry
    if reason not in retry.on or attempts_made >= retry.attempts:
        return None
    return window_opening(options.calling_window, end + retry.interval)
