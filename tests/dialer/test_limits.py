"""The trunk call-rate limiter."""

from __future__ import annotations

import asyncio
import time

import pytest

from vestnik.dialer.limits import CallRate


async def test_calls_are_spaced_at_the_rate_without_losing_capacity() -> None:
    rate = CallRate(50.0)
    stamps: list[float] = []
    start = time.monotonic()
    for _ in range(26):
        await rate.take()
        stamps.append(time.monotonic() - start)
    assert stamps[0] < 0.01  # an idle limiter lets the first call through at once
    # 25 intervals of 20 ms: never faster than the rate, and late wake-ups (a loaded
    # machine) are caught up by the schedule instead of adding up.
    assert 0.49 <= stamps[-1] < 0.6


async def test_concurrent_waiters_share_the_schedule() -> None:
    rate = CallRate(40.0)
    start = time.monotonic()

    async def one() -> float:
        await rate.take()
        return time.monotonic() - start

    stamps = sorted(await asyncio.gather(*(one() for _ in range(9))))
    assert 8 / 40 - 0.01 <= stamps[-1] < 8 / 40 + 0.08


async def test_cancelled_waiter_gives_its_slot_back() -> None:
    rate = CallRate(10.0)
    await rate.take()  # the slot at t=0; the next is at +100 ms
    waiter = asyncio.ensure_future(rate.take())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    start = time.monotonic()
    await rate.take()  # takes the returned +100 ms slot, not +200 ms
    assert time.monotonic() - start < 0.15


async def test_zero_rate_is_unlimited() -> None:
    rate = CallRate(0)
    start = time.monotonic()
    for _ in range(1000):
        await rate.take()
    assert time.monotonic() - start < 0.5
