"""The dialer's loops, each with its own back-off while the database is unavailable.

- claim: take due queued sessions from the table (the work queue) while there is room (a
  session whose calling window is closed goes back with ``scheduled_at`` = its opening); an
  idle claim polls every ``poll_interval_seconds``, which bounds how late a session that
  becomes due (a retry, a window's opening) is dialled;
- renew: extend the leases of every session in hand (``lease_seconds / 3``); a lease lost to
  another dialer's sweep hangs its call up;
- release poll: ``release_requested`` for sessions in hand (~200 ms); those are hung up;
- sweep: settle sessions of dialers that stopped renewing (``store.leases.recover_expired``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from vestnik.calls.events import iso
from vestnik.calls.session import CallSession
from vestnik.config import DialerConfig
from vestnik.dialer.call import InHand, Interrupt
from vestnik.dialer.database import DialerDatabase
from vestnik.store import leases, sessions
from vestnik.store.db import now
from vestnik.store.health import DATABASE, Backoff

log = logging.getLogger("vestnik.dialer")

RELEASE_POLL_SECONDS = 0.2
CLAIM_BATCH = 100
# How often a sweep held after an outage looks whether the database answers again.
HOLD_POLL_SECONDS = 0.25

# Takes a claimed session in hand: ``start(session, slot_deadline)`` (loop time).
SessionStarter = Callable[[CallSession, float], None]


class DialerLoops:
    def __init__(
        self,
        settings: DialerConfig,
        owner: str,
        room: int,
        db: DialerDatabase,
        hand: InHand,
        start_session: SessionStarter,
    ) -> None:
        self.settings = settings
        self._owner = owner
        self._room = room  # sessions in hand at most (calls + waiting)
        self._db = db
        self._hand = hand
        self._start_session = start_session

    async def claim(self) -> None:
        backoff = Backoff("dialer claim", self.settings.poll_interval_seconds)
        hand = self._hand
        while not hand.stopping:
            # Cleared before the claim, so a wake() (or stop()) during it is not lost.
            hand.wake.clear()
            asked = min(self._room - len(hand.calls), CLAIM_BATCH)
            claim = sessions.Claim()
            if asked > 0:
                started = time.monotonic()
                try:
                    claim = await self._db.run(
                        sessions.claim_for_dialing,
                        self._owner, asked, self.settings.lease_seconds, now(),
                    )  # fmt: skip
                except Exception as exc:
                    await self._idle(backoff.failed(exc, started))
                    continue
                backoff.ok(started)
            for done in claim.settled:
                log.info("session %d finished at claim: %s", done.id, done.finish_reason)
            for later in claim.deferred:
                log.info("session %d: calling window closed, waits until %s", later.id,
                         iso(later.scheduled_at))  # fmt: skip
            deadline = asyncio.get_running_loop().time() + self.settings.slot_wait_seconds
            for session in claim.to_dial:
                self._start_session(session, deadline)
            taken = len(claim.to_dial) + len(claim.settled) + len(claim.deferred)
            short = asked == 0 or taken < asked
            if short and not hand.stopping:
                await self._idle(self.settings.poll_interval_seconds)

    async def _idle(self, seconds: float) -> None:
        """Wait ``seconds``, or less when woken (a new session, a call ended, stop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hand.wake.wait(), seconds)

    async def renew(self) -> None:
        period = max(0.05, self.settings.lease_seconds / 3)
        backoff = Backoff("dialer lease renewal", self.settings.poll_interval_seconds)
        delay = period
        while True:
            await asyncio.sleep(delay)
            delay = period
            ids = [c.id for c in self._hand.calls.values() if not c.finished]
            if not ids:
                continue
            started = time.monotonic()
            try:
                held = await self._db.run(
                    leases.renew_leases, self._owner, ids, self.settings.lease_seconds, now()
                )
            except Exception as exc:
                delay = min(period, backoff.failed(exc, started))  # the leases are running out
                continue
            backoff.ok(started)
            for session_id in set(ids) - held:
                call = self._hand.live(session_id)
                if call is not None:
                    log.error("session %d: lease lost; hanging up", session_id)
                    call.hang_up(Interrupt.LEASE_LOST)

    async def release_poll(self) -> None:
        backoff = Backoff("dialer release poll", RELEASE_POLL_SECONDS)
        delay = RELEASE_POLL_SECONDS
        while True:
            await asyncio.sleep(delay)
            delay = RELEASE_POLL_SECONDS
            if not self._hand.calls:
                continue
            started = time.monotonic()
            try:
                ids = await self._db.run(leases.release_requested, self._owner)
            except Exception as exc:
                delay = backoff.failed(exc, started)
                continue
            backoff.ok(started)
            for session_id in ids:
                call = self._hand.live(session_id)
                if call is not None:
                    call.hang_up(Interrupt.RELEASED)

    async def sweep(self) -> None:
        period = max(0.1, self.settings.lease_seconds / 2)
        backoff = Backoff("dialer sweep", self.settings.poll_interval_seconds)
        while True:
            await asyncio.sleep(period)
            started = time.monotonic()
            try:
                recovered = await self._db.run(leases.recover_expired, now())
            except Exception as exc:
                backoff.failed(exc, started)
                await self._hold_sweep()
                continue
            backoff.ok(started)
            if recovered.requeued or recovered.finished:
                log.warning(
                    "lapsed leases: %d sessions requeued, %d finished internal_error %s",
                    len(recovered.requeued), len(recovered.finished), recovered.finished[:20],
                )  # fmt: skip
                self._hand.wake.set()

    async def _hold_sweep(self) -> None:
        """After a failed sweep: wait until the database answers again, then one lease more.

        Leases lapse during a long outage; live dialers renew theirs within that lease (their
        renewal retries every few seconds), so a sweep settles only the sessions of dialers
        that are really gone.
        """
        while not DATABASE.up:
            await asyncio.sleep(HOLD_POLL_SECONDS)
        await asyncio.sleep(self.settings.lease_seconds)
