"""The retry rule with the calling window (``calls.retry``): pure functions. The window's own
rules (DST, edges) are tested with ``calls.window``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from vestnik.calls import FinishReason
from vestnik.calls.options import CallingWindow, CallOptions, RetryPolicy
from vestnik.calls.retry import next_attempt_at, window_opening

MSK = ZoneInfo("Europe/Moscow")
VLAT = ZoneInfo("Asia/Vladivostok")
BUSY = FinishReason.SUBSCRIBER_BUSY


def _at(zone: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


def _window(start: str, till: str, zone: str = "Europe/Moscow") -> CallingWindow:
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, till.split(":"))
    return CallingWindow(h1 * 60 + m1, h2 * 60 + m2, "contact", zone)


def test_opening_is_today_or_tomorrow_in_the_window_zone() -> None:
    window = _window("09:00", "18:00", "Asia/Vladivostok")
    early = _at(VLAT, 2026, 12, 7, 3, 0)
    assert window_opening(window, early) == _at(VLAT, 2026, 12, 7, 9, 0)
    late = _at(VLAT, 2026, 12, 7, 19, 0)
    assert window_opening(window, late) == _at(VLAT, 2026, 12, 8, 9, 0)
    inside = _at(VLAT, 2026, 12, 7, 12, 0)
    assert window_opening(window, inside) == inside
    assert window_opening(None, late) == late


def test_a_window_wrapping_past_midnight_opens_the_same_evening() -> None:
    window = _window("22:00", "06:00")
    assert window_opening(window, _at(MSK, 2026, 12, 8, 12, 0)) == _at(MSK, 2026, 12, 8, 22, 0)
    assert window_opening(window, _at(MSK, 2026, 12, 8, 5, 0)) == _at(MSK, 2026, 12, 8, 5, 0)


def test_retry_only_listed_reasons_within_attempts() -> None:
    options = CallOptions(retry=RetryPolicy(3, 600, (BUSY,)))
    end = _at(MSK, 2026, 12, 7, 12, 0)
    assert next_attempt_at(options, BUSY, 1, end) == end + 600
    assert next_attempt_at(options, BUSY, 2, end) == end + 600
    assert next_attempt_at(options, BUSY, 3, end) is None  # the last attempt
    assert next_attempt_at(options, FinishReason.SUCCESS_FINISH, 1, end) is None
    assert next_attempt_at(options, FinishReason.TIMEOUT, 1, end) is None  # not in retry.on
    assert next_attempt_at(options, BUSY, 1, end, released=True) is None
    assert next_attempt_at(CallOptions(), BUSY, 1, end) is None
    assert next_attempt_at(None, BUSY, 1, end) is None


def test_a_retry_outside_the_window_waits_for_its_opening() -> None:
    window = _window("09:00", "18:00")
    options = CallOptions(retry=RetryPolicy(2, 3600, (BUSY,)), calling_window=window)
    end = _at(MSK, 2026, 12, 7, 17, 30)  # + 1 h = 18:30: closed
    assert next_attempt_at(options, BUSY, 1, end) == _at(MSK, 2026, 12, 8, 9, 0)
    inside = _at(MSK, 2026, 12, 7, 10, 0)
    assert next_attempt_at(options, BUSY, 1, inside) == inside + 3600
