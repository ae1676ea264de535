"""The dialer: claims queued sessions, renders their message, places the calls, records outcomes.

One ``Dialer`` per process; it wires its parts and owns their life:

- ``loops`` (claim, lease renewal, release poll, sweep), ``DialerLoops``;
- ``session``: one session's run (render, slot, place, finish), ``SessionRuns``;
- ``slots``: the wait for a call slot (process cap, account cap), ``Slots``;
- ``settle``: how a session in hand ends (finished, or back to the queue), ``Settler``;
- ``database``: the dialer's own database thread with group commit, ``DialerDatabase``.

Per session: claim → render (a task, so audio is ready at answer) → blacklist check → slot
(per-account FIFO, process cap, then the account cap checked atomically with the ``dialing``
transition) → ``Telephony.place_call`` → observer writes ringing/answered → result
→ finished. Every session ends finished with a reason, whatever happens: a session task that
fails finishes it ``internal_error``; a dialer that dies leaves leases that a restart (same
dialer id) or another dialer's sweep settles.

Database work runs on its own thread, many operations per transaction under load
(``store.batching.GroupCommit``), so the event loop (SIP, RTP pacer, HTTP) never blocks on it.
Deadlines use the loop clock; stored times are wall-clock UNIX seconds.

While the database is unavailable the loops back off (``store.health.Backoff``), progress
and final writes of calls wait for it (retried until it answers), and a session that fails
to start dialing because of it goes back to the queue: an outage shorter than the lease
costs no session its outcome.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket

from vestnik.calls.ports import MessageRenderer, Telephony
from vestnik.config import Config
from vestnik.dialer.call import InHand, Interrupt
from vestnik.dialer.database import DialerDatabase
from vestnik.dialer.loops import DialerLoops
from vestnik.dialer.routing import Router
from vestnik.dialer.session import CUT_GRACE_SECONDS, SessionRuns
from vestnik.dialer.settle import Settler
from vestnik.dialer.slots import Slots
from vestnik.store import leases
from vestnik.store.db import Engine, now

log = logging.getLogger("vestnik.dialer")


def default_dialer_id(config: Config) -> str:
    """Stable across restarts of the same deployment: host name and SIP port."""
    return config.dialer.id or f"{socket.gethostname()}:{config.sip.port}"


class Dialer:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        telephony: Telephony,
        renderer: MessageRenderer,
        *,
        dialer_id: str | None = None,
    ) -> None:
        self.config = config
        self.settings = config.dialer
        self.dialer_id = dialer_id or default_dialer_id(config)
        self.owner = leases.lease_owner_for(self.dialer_id, secrets.token_hex(8))
        # Never more calls than the telephony can carry (its RTP ports): beyond that a call
        # would fail at once instead of waiting for a slot like any other.
        self.max_calls = max(1, self.settings.max_concurrent_calls)
        if telephony.max_calls is not None:
            self.max_calls = max(1, min(self.max_calls, telephony.max_calls))
        self._hand = InHand()
        self._db = DialerDatabase(engine)
        settler = Settler(self._db, self.owner)
        slots = Slots(config, self.max_calls, self._db, self.owner, settler)
        router = Router(config.trunk_list, self._db)
        runs = SessionRuns(
            self.settings, telephony, renderer, self._hand, slots, settler, self._db, self.owner,
            router,
        )  # fmt: skip
        room = self.max_calls + max(0, self.settings.max_waiting_sessions)
        self._loops = DialerLoops(self.settings, self.owner, room, self._db, self._hand, runs.start)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def active_sessions(self) -> int:
        """Sessions in hand (waiting for a slot or on a call)."""
        return len(self._hand.calls)

    def wake(self) -> None:
        """Claim now instead of at the next poll (e.g. right after a session was created).

        Safe to call from any thread.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._hand.wake.set()
        else:
            loop.call_soon_threadsafe(self._hand.wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        recovered = await self._db.run(
            leases.recover_previous_run, self.dialer_id, self.owner, now()
        )
        if recovered.requeued or recovered.finished:
            log.warning(
                "dialer %s: previous run left %d undialled sessions (requeued) and %d calls "
                "(finished internal_error): %s",
                self.dialer_id, len(recovered.requeued), len(recovered.finished),
                recovered.finished[:20],
            )  # fmt: skip
        loops = self._loops
        self._tasks = [
            asyncio.create_task(loops.claim(), name="dialer-claim"),
            asyncio.create_task(loops.renew(), name="dialer-renew"),
            asyncio.create_task(loops.release_poll(), name="dialer-release"),
            asyncio.create_task(loops.sweep(), name="dialer-sweep"),
        ]
        log.info("dialer %s started (lease owner %s)", self.dialer_id, self.owner)

    async def stop(self, graceful: bool = True) -> None:
        """Stop claiming; give undialled sessions back; let calls end (up to the drain bound).

        Calls still up after ``shutdown_grace`` (at once when not ``graceful``) are hung
        up and finished ``internal_error``; every session in hand ends final or back in the
        queue before this returns.
        """
        hand = self._hand
        if hand.stopping:
            return
        hand.stopping = True
        hand.wake.set()
        if self._tasks:
            # Not cancelled: a claim in flight must come back and be handled (given back).
            await asyncio.gather(self._tasks[0], return_exceptions=True)
        for call in list(hand.calls.values()):
            if not call.dialing:
                call.stop_waiting(Interrupt.STOPPING)
        await self._wait_calls(self.settings.shutdown_grace if graceful else 0.0)
        if hand.calls:
            log.warning("dialer stopping: hanging up %d calls still up", len(hand.calls))
            self.hang_up_all()
            await self._wait_calls(CUT_GRACE_SECONDS)
        for call in list(hand.calls.values()):
            if call.task is not None:
                call.task.cancel()
        await self._wait_calls(CUT_GRACE_SECONDS)
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks[1:], return_exceptions=True)
        self._tasks = []
        await self._db.close()
        log.info("dialer %s stopped", self.dialer_id)

    def hang_up_all(self) -> None:
        """Hang up every call in hand now (shutdown); they finish ``internal_error``."""
        for call in list(self._hand.calls.values()):
            call.cut = True
            call.hang_up(Interrupt.STOPPING)

    async def _wait_calls(self, timeout: float) -> None:
        tasks = [c.task for c in self._hand.calls.values() if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, timeout))
