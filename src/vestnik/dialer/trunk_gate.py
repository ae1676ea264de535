"""``DatabaseTrunkGate``: each trunk's ``calls_per_second`` and ``max_concurrent_calls`` for
every vestnik process on one database together (``calls.ports.TrunkGate``).

The telephony enters the gate right before it sends an INVITE to a trunk and leaves it when
that call is over. ``enter`` takes, in one transaction with the trunk's row locked
(``store.trunks.enter``), a place (when the trunk has a cap) and the trunk's next send
instant (when it has a rate: the instants are ``1 / calls_per_second`` apart, a schedule
every process shares), then sleeps until that instant: the rate holds where the INVITE
leaves. A full trunk is looked at again when a call of this process leaves it, or every
``POLL_SECONDS`` (calls end in other processes too), until the caller's deadline.

Places are counted per dialer run (its lease owner) while the run's lease holds; a keeper
task renews it every third of ``[dialer] lease_seconds`` and writes the places given back,
so a process that dies stops holding places once its lease lapses. Database work runs in
worker threads (``vestnik.threads.run_in_thread``); a trunk with neither limit never
touches the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from vestnik.config import TrunkConfig
from vestnik.store import trunks as store
from vestnik.store.db import Engine, transaction
from vestnik.threads import run_in_thread

log = logging.getLogger("vestnik.dialer.trunks")

T = TypeVar("T")

# A full trunk is looked at again this often (its calls may end in other processes).
POLL_SECONDS = 0.05
# After a failed database attempt, wait this long before the next one (doubling, capped).
RETRY_SECONDS = 0.05
RETRY_CAP_SECONDS = 1.0
# An INVITE leaves at most this long after its send instant; an entry that wakes later (its
# loop or process stalled) takes a new instant instead. A 1-second window then holds at most
# rate * (1 + LATE_SECONDS) + 1 INVITEs of the shared schedule (docs/telephony.md).
LATE_SECONDS = 0.05


@dataclass(frozen=True)
class _Limit:
    max_calls: int
    rate: float

    @property
    def any(self) -> bool:
        return self.max_calls > 0 or self.rate > 0


class DatabaseTrunkGate:
    """The ``TrunkGate`` of one dialer run. ``await start(owner)`` before the first call,
    ``await stop()`` after the last."""

    def __init__(
        self, engine: Engine, trunks: Sequence[TrunkConfig], lease_seconds: float = 30.0
    ) -> None:
        self.engine = engine
        self.lease = lease_seconds
        self.owner: str | None = None
        self._limits = {
            t.name: _Limit(max(0, t.max_concurrent_calls), max(0.0, t.calls_per_second))
            for t in trunks
        }
        self._locks = {name: asyncio.Lock() for name in self._limits}
        self._freed = {name: asyncio.Event() for name in self._limits}
        self._held: Counter[str] = Counter()  # places this run holds, by trunk
        self._to_free: Counter[str] = Counter()  # places left, not yet written
        self._unsend: dict[str, tuple[float, float]] = {}
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._stopping = False
        self.late_wakeups = 0  # entries that woke too late and took a new send instant

    async def start(self, owner: str) -> None:
        """Make the trunks' rows, drop what an earlier run of the same dialer held, and start
        renewing this run's lease."""
        self.owner = owner
        names = [name for name, limit in self._limits.items() if limit.any]
        if not names:
            return  # no trunk has limits: nothing to hold, nothing to renew
        await run_in_thread(
            self._in_transaction, store.prepare, names, owner, time.time(), self.lease
        )
        self._keeper = asyncio.create_task(self._keep(), name="trunk-gate")

    async def stop(self) -> None:
        """Stop renewing; free every place of this run (its calls are over)."""
        self._stopping = True
        self._wake.set()
        if self._keeper is not None:
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        if self.owner is not None and any(limit.any for limit in self._limits.values()):
            try:
                await run_in_thread(self._in_transaction, store.leave_all, self.owner)
            except Exception as exc:
                log.warning(
                    "trunk places of %s not freed (they lapse with its lease): %s", self.owner, exc
                )

    # -- TrunkGate ------------------------------------------------------------------------

    async def enter(self, trunk: str, deadline: float) -> bool:
        limit = self._limits.get(trunk)
        if limit is None or not limit.any:
            return True
        if self.owner is None:
            raise RuntimeError("DatabaseTrunkGate.start() was not called")
        while True:
            entry = await self._take_in_turn(trunk, limit, deadline)
            if entry is None or entry.send_at is None:
                return False
            if limit.max_calls > 0:
                self._held[trunk] += 1
            try:
                await asyncio.sleep(max(0.0, entry.send_at - time.time()))
            except asyncio.CancelledError:
                self._give_back(trunk, limit, entry.send_at)
                raise
            late = time.time() - entry.send_at
            if limit.rate <= 0 or late <= LATE_SECONDS:
                return True
            # Woken late (the loop or the process stalled): sent now, this INVITE would crowd
            # the next instants, which other processes keep. Give the place back, enter anew.
            self.late_wakeups += 1
            log.debug("trunk %s: woke %.3f s after its send instant; entering anew", trunk, late)
            self.leave(trunk)

    def leave(self, trunk: str) -> None:
        limit = self._limits.get(trunk)
        if limit is None or limit.max_calls <= 0 or self._held[trunk] <= 0:
            return
        self._held[trunk] -= 1
        self._to_free[trunk] += 1
        self._wake.set()

    # -- inside -----------------------------------------------------------------------------

    async def _take_in_turn(self, trunk: str, limit: _Limit, deadline: float) -> store.Entry | None:
        """``_take`` behind this process's other entries to ``trunk`` (one at a time)."""
        lock = self._locks[trunk]
        try:
            async with asyncio.timeout_at(deadline):
                await lock.acquire()
        except TimeoutError:
            return None
        try:
            return await self._take(trunk, limit, deadline)
        finally:
            lock.release()

    async def _take(self, trunk: str, limit: _Limit, deadline: float) -> store.Entry | None:
        """A place and a send instant, waiting while the trunk is full; None: not before the
        deadline."""
        loop = asyncio.get_running_loop()
        delay = RETRY_SECONDS
        while True:
            at = time.time()
            latest = at + (deadline - loop.time())
            work = asyncio.ensure_future(
                run_in_thread(
                    self._in_transaction,
                    store.enter,
                    trunk,
                    self.owner,
                    max_calls=limit.max_calls,
                    rate=limit.rate,
                    at=at,
                    latest=latest,
                    lease=self.lease,
                )
            )
            try:
                entry = await asyncio.shield(work)
            except asyncio.CancelledError:
                work.add_done_callback(lambda done: self._undo(done, trunk, limit))
                raise
            except Exception as exc:
                log.warning("trunk %s: limits not readable: %s", trunk, exc)
                wait = min(delay, deadline - loop.time())
                if wait <= 0:
                    return None
                await asyncio.sleep(wait)
                delay = min(delay * 2, RETRY_CAP_SECONDS)
                continue
            if entry.admitted or not entry.full:
                return entry if entry.admitted else None
            left = deadline - loop.time()
            if left <= 0:
                return None
            freed = self._freed[trunk]
            freed.clear()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
            # that meets the event, and a cancelled enter would go on to take a place.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, POLL_SECONDS)):
                    await freed.wait()

    def _undo(self, done: asyncio.Future[store.Entry], trunk: str, limit: _Limit) -> None:
        """An ``enter`` abandoned while its transaction ran: give back what it took."""
        if done.cancelled() or done.exception() is not None:
            return
        entry = done.result()
        if entry.admitted:
            if limit.max_calls > 0:
                self._held[trunk] += 1
            self._give_back(trunk, limit, entry.send_at)

    def _give_back(self, trunk: str, limit: _Limit, send_at: float | None) -> None:
        """An entry that sent nothing: its place is free, its send instant too if nobody
        reserved after it."""
        if send_at is not None and limit.rate > 0:
            self._unsend[trunk] = (send_at, send_at + 1.0 / limit.rate)
            self._wake.set()
        self.leave(trunk)

    async def _keep(self) -> None:
        """Write the places given back and renew this run's lease, until stopped."""
        renew_every = max(0.05, self.lease / 3)
        delay = RETRY_SECONDS
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(renew_every):
                    await self._wake.wait()
            self._wake.clear()
            freeing, self._to_free = self._to_free, Counter()
            unsend, self._unsend = self._unsend, {}
            try:
                await run_in_thread(
                    self._in_transaction,
                    store.give_back,
                    self.owner,
                    dict(freeing),
                    time.time(),
                    self.lease,
                    unsend,
                )
            except Exception as exc:
                log.warning("trunk places not written (retrying): %s", exc)
                self._to_free.update(freeing)
                self._unsend = {**unsend, **self._unsend}
                self._wake.set()
                if self._stopping:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_SECONDS)
                continue
            delay = RETRY_SECONDS
            for trunk in freeing:
                self._freed[trunk].set()
            if self._stopping and not self._to_free:
                return

    def _in_transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with transaction(self.engine) as conn:
            return fn(conn, *args, **kwargs)
