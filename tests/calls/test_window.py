"""Calling windows in time: open or not, the next opening (wrap, ``till`` exclusive, DST)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from vestnik.calls.options import CallingWindow
from vestnik.calls.window import is_open, next_opening

# Zones with and without DST, a half-hour DST (Lord Howe), a southern one, a far-east one.
ZONES = [
    "Europe/Moscow", "Asia/Vladivostok", "Asia/Novosibirsk", "Europe/Berlin",
    "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Kamchatka",
]  # fmt: skip
# 1990-2040: the zones' DST rules of many years, past and future.
INSTANTS = st.floats(min_value=631_152_000, max_value=2_208_988_800, allow_nan=False)


def window(start: str, till: str, zone: str = "Europe/Moscow") -> CallingWindow:
    def minutes(text: str) -> int:
        return int(text[:2]) * 60 + int(text[3:])

    return CallingWindow(minutes(start), minutes(till), "contact", zone)


def at(text: str, zone: str) -> float:
    """Unix seconds of a local wall-clock time ``YYYY-MM-DD HH:MM[:SS]`` (fold 0)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_from_inclusive_till_exclusive() -> None:
    w = window("09:00", "21:00")
    assert not is_open(w, at("2026-12-07 08:59:59", "Europe/Moscow"))
    assert is_open(w, at("2026-12-07 09:00", "Europe/Moscow"))
    assert is_open(w, at("2026-12-07 20:59:59", "Europe/Moscow"))
    assert not is_open(w, at("2026-12-07 21:00", "Europe/Moscow"))


def test_wrap_past_midnight_and_24_00() -> None:
    night = window("22:00", "06:00")
    for time, open_ in [("21:59", False), ("22:00", True), ("23:59", True), ("00:00", True),
                        ("05:59", True), ("06:00", False), ("12:00", False)]:  # fmt: skip
        assert is_open(night, at(f"2026-12-07 {time}", "Europe/Moscow")) is open_, time
    evening = window("18:00", "24:00")
    assert is_open(evening, at("2026-12-07 23:59:59", "Europe/Moscow"))
    assert not is_open(evening, at("2026-12-08 00:00", "Europe/Moscow"))
    whole_day = window("00:00", "24:00")
    assert is_open(whole_day, at("2026-12-07 00:00", "Europe/Moscow"))
    assert is_open(whole_day, at("2026-12-07 23:59:59", "Europe/Moscow"))


def test_next_opening_in_the_windows_zone() -> None:
    w = window("09:00", "21:00", "Asia/Vladivostok")
    # 22:30 in Vladivostok: the next opening is 09:00 the next day there.
    now = at("2026-12-07 22:30", "Asia/Vladivostok")
    assert next_opening(w, now) == at("2026-12-08 09:00", "Asia/Vladivostok")
    # The same instant in Moscow is 15:30: open there.
    assert is_open(w, now, "Europe/Moscow") and next_opening(w, now, "Europe/Moscow") == now
    # Before the opening on the same day.
    early = at("2026-12-07 07:15", "Asia/Vladivostok")
    assert next_opening(w, early) == at("2026-12-07 09:00", "Asia/Vladivostok")


def test_dst_spring_forward_gap_opens_at_the_jump() -> None:
    # New York, 2026-03-08: 02:00 EST → 03:00 EDT. A window from 02:30 opens at the jump.
    w = window("02:30", "05:00", "America/New_York")
    jump = at("2026-03-08 03:00", "America/New_York")
    assert next_opening(w, at("2026-03-08 01:00", "America/New_York")) == jump
    assert not is_open(w, jump - 1)
    # A window wholly inside the skipped hour opens the next day.
    lost = window("02:10", "02:50", "America/New_York")
    assert next_opening(lost, at("2026-03-08 00:00", "America/New_York")) == at(
        "2026-03-09 02:10", "America/New_York"
    )


def test_dst_fall_back_repeated_hour() -> None:
    # Berlin, 2026-10-25: 03:00 CEST → 02:00 CET; 02:00-02:59 happens twice.
    w = window("02:30", "02:45", "Europe/Berlin")
    first = at("2026-10-25 02:30", "Europe/Berlin")  # fold 0: the first 02:30
    assert next_opening(w, at("2026-10-25 01:00", "Europe/Berlin")) == first
    # After the first pass closed, the second 02:30 (an hour later) opens it again.
    assert next_opening(w, first + 15 * 60) == first + 3600


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 1439),
    till=st.integers(0, 1440),
    zone=st.sampled_from(ZONES),
    now=INSTANTS,
)
# Half a microsecond before a start: a datetime would round it up and read the window open.
@example(start=0, till=1, zone="Europe/Moscow", now=1104494399.9999995)
def test_next_opening_invariants(start: int, till: int, zone: str, now: float) -> None:
    if start == till:
        return  # refused at input: an empty window
    w = CallingWindow(start, till, zone, zone)
    opening = next_opening(w, now)
    assert opening >= now
    assert is_open(w, opening)
    if is_open(w, now):
        assert opening == now
        return
    # Nothing opens earlier: closed a second before, and at every minute in between.
    assert not is_open(w, opening - 1) or opening - 1 < now
    step = 60.0
    t = now
    while t < opening:
        assert not is_open(w, t), (t, opening)
        t += step
    assert opening - now <= 3 * 86_400  # a window opens within a few days at most


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 1439),
    length=st.integers(1, 1439),
    now=st.floats(min_value=1_483_228_800, max_value=2_208_988_800),  # 2017-2040
)
def test_open_for_its_length_each_day_without_dst(start: int, length: int, now: float) -> None:
    till = (start + length) % 1440 or 1440
    w = CallingWindow(start, till, "Asia/Novosibirsk", "Asia/Novosibirsk")
    opening = next_opening(w, now)
    if opening == now:
        return
    # Opened at its start: it stays open ``length`` minutes, then closes.
    assert is_open(w, opening + length * 60 - 1)
    assert not is_open(w, opening + length * 60)
