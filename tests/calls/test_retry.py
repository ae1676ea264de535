"""The retry rule and the calling window's next opening (``calls.retry``): pure functions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from vestnik.calls import FinishReason
from vestnik.calls.options import CallingWindow, CallOptions, RetryPolicy
from vestnik.calls.retry import next_attempt_at, window_open, window_opening

MSK = ZoneInfo("Europe/Moscow")
VLAT = ZoneInfo("Asia/Vladivostok")
BUSY = FinishReason.SUBSCRIBER_BUSY


def _at(zone: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


def _window(start: str, till: str, zone: str = "Europe/Moscow") -> CallingWindow:
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, till.split(":"))
    return CallingWindow(h1 * 60 + m1, h2 * 60 + m2, "contact", zone)


def test_window_from_is_inclusive_till_exclusive() -> None:
    window = _window("09:00", "18:00")
    assert not window_open(window, _at(MSK, 2026, 12, 7, 8, 59, 59))
    assert window_open(window, _at(MSK, 2026, 12, 7, 9, 0))
    assert window_open(window, _at(MSK, 2026, 12, 7, 17, 59, 59))
    assert not window_open(window, _at(MSK, 2026, 12, 7, 18, 0))


def test_window_wraps_past_midnight() -> None:
    window = _window("22:00", "06:00")
    assert window_open(window, _at(MSK, 2026, 12, 7, 23, 30))
    assert window_open(window, _at(MSK, 2026, 12, 8, 5, 59))
    assert not window_open(window, _at(MSK, 2026, 12, 8, 6, 0))
    # Closed at noon: the next opening is 22:00 the same day.
    assert window_opening(window, _at(MSK, 2026, 12, 8, 12, 0)) == _at(MSK, 2026, 12, 8, 22, 0)


def test_opening_is_today_or_tomorrow_in_the_window_zone() -> None:
    window = _window("09:00", "18:00", "Asia/Vladivostok")
    early = _at(VLAT, 2026, 12, 7, 3, 0)
    assert window_opening(window, early) == _at(VLAT, 2026, 12, 7, 9, 0)
    late = _at(VLAT, 2026, 12, 7, 19, 0)
    assert window_opening(window, late) == _at(VLAT, 2026, 12, 8, 9, 0)
    inside = _at(VLAT, 2026, 12, 7, 12, 0)
    assert window_opening(window, inside) == inside
    assert window_opening(None, late) == late


def test_unresolved_zone_falls_back_to_the_named_zone_then_moscow() -> None:
    named = CallingWindow(9 * 60, 18 * 60, "Asia/Vladivostok", None)
    assert window_opening(named, _at(VLAT, 2026, 12, 7, 3, 0)) == _at(VLAT, 2026, 12, 7, 9, 0)
    contact = CallingWindow(9 * 60, 18 * 60, "contact", None)
    assert window_opening(contact, _at(MSK, 2026, 12, 7, 3, 0)) == _at(MSK, 2026, 12, 7, 9, 0)


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
