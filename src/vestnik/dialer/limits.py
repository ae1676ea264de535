"""In-process rate limit for new calls towards the trunk."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class CallRate:
    """At most ``rate`` calls per second, evenly spaced (``rate`` <= 0: unlimited).

    A virtual schedule (GCRA): each ``take`` reserves the next free instant, one interval
    after the previous reservation, and sleeps until it. Late wake-ups do not lose capacity
    (the schedule, not the wake-up time, sets the next slot), and an idle limiter lets the
    next call through at once. Waiters are served in order; a cancelled ``take`` gives its
    slot back when nobody reserved after it.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = 0.0  # the earliest instant the next call may start

    async def take(self) -> None:
        if self.rate <= 0:
            return
        interval = 1.0 / self.rate
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + interval
        if slot <= now:
            return
        try:
            await asyncio.sleep(slot - now)
        except asyncio.CancelledError:
            if self._next == slot + interval:
                self._next = slot
            raise
