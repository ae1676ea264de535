"""The wait for a call slot: the process cap, then the account's cap with ``dialing``.

A claimed session needs, within ``slot_wait_seconds`` of its claim: a process slot
(``max_concurrent_calls``, bounded by what the telephony can carry) and the ``queued →
dialing`` transition, which checks the account's concurrent-call cap in the same transaction
(across every dialer). A trunk's own limits (``calls_per_second``, ``max_concurrent_calls``)
are not waited for here: the telephony applies them where the INVITE leaves
(``calls.ports.TrunkGate``, ``dialer.trunk_gate``). Sessions go straight for a
slot; once their account is at its cap they queue in the account's FIFO, whose head alone
re-checks the database (when a call of the account ends here, or every 250 ms: calls may end
in other processes). A session that gets no slot in time ends ``max_out_call_reached``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vestnik.calls import FinishReason
from vestnik.config import Config
from vestnik.dialer.call import Call, Interrupt
from vestnik.dialer.database import DialerDatabase
from vestnik.dialer.settle import Settler
from vestnik.store import sessions

# While an account is at its cap, the head waiter re-checks this often (calls may end in
# other processes, which we cannot hear about).
ACCOUNT_RECHECK_SECONDS = 0.25


@dataclass
class _SlotWait:
    """What one session's wait for a slot has gathered so far."""

    account_full: str | None = None  # set once the account's cap has held it up


@dataclass
class _AccountGate:
    """Serialises one account's waiters (FIFO) so only the head polls the database."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    freed: asyncio.Event = field(default_factory=asyncio.Event)


class Slots:
    def __init__(
        self, config: Config, max_calls: int, db: DialerDatabase, owner: str, settler: Settler
    ) -> None:
        self.settings = config.dialer
        self.max_calls = max_calls
        self._process = asyncio.Semaphore(max_calls)
        self._gates: dict[int, _AccountGate] = {}
        self._db = db
        self._owner = owner
        self._settler = settler

    def release(self) -> None:
        """Give back the process slot of a call that is over."""
        self._process.release()

    def account_freed(self, account_id: int) -> None:
        """A session of the account left the dialer: its head waiter may re-check now."""
        gate = self._gates.get(account_id)
        if gate is not None:
            gate.freed.set()

    async def take(self, call: Call) -> bool:
        """Wait for a slot (bounded by the session's deadline) and start dialing.

        True: the session is in ``dialing`` and holds a process slot. False: it was settled
        here (finished or given back). Sessions go straight for a slot; once their account is
        at its cap they queue in the account's FIFO, whose head alone re-checks the database.
        """
        gate = self._gates.setdefault(call.account_id, _AccountGate())
        wait = _SlotWait()
        if not gate.lock.locked():  # nobody of this account is queued: no need to line up
            started = await self._try_dial(call, wait)
            if started is not None:
                return started
        if not await _acquire(call, gate.lock.acquire(), gate.lock.release):
            blocker = wait.account_full or "earlier sessions of the account still waiting"
            return await self._no_slot(call, blocker)
        try:
            while True:
                started = await self._try_dial(call, wait)
                if started is not None:
                    return started
                gate.freed.clear()
                freed = await _acquire(call, gate.freed.wait(), None, ACCOUNT_RECHECK_SECONDS)
                if not freed and call.interrupt is not None:
                    return await self._no_slot(call, wait.account_full or "interrupted")
        finally:
            gate.lock.release()

    async def _try_dial(self, call: Call, wait: _SlotWait) -> bool | None:
        """One attempt: process slot, then queued → dialing with the account check.

        True/False as ``take``; None: the account is at its cap (nothing held).
        """
        if wait.account_full and _loop_time() >= call.deadline:
            return await self._no_slot(call, wait.account_full)
        if not await _acquire(call, self._process.acquire(), self._process.release):
            blocker = f"process call limit {self.max_calls} reached"
            if wait.account_full and not self._process.locked():
                blocker = wait.account_full  # the deadline passed, not the process limit
            return await self._no_slot(call, blocker)
        try:
            begin = await self._db.run(
                sessions.begin_dialing,
                call.id,
                self._owner,
                self.settings.lease_seconds,
                account=call.session.account_id,
            )
        except BaseException:
            self._process.release()
            raise
        if begin.outcome is sessions.DialStart.STARTED:
            call.dialing = True
            if begin.session is not None:
                call.session = begin.session
            return True
        self._process.release()
        if begin.outcome is sessions.DialStart.BLACKLISTED:
            call.finished = True
            return False
        if begin.outcome is sessions.DialStart.GONE:
            await self._settler.gone(call)
            return False
        wait.account_full = "account concurrent call limit reached"
        return None

    async def _no_slot(self, call: Call, why: str) -> bool:
        if call.interrupt is Interrupt.RELEASED:
            await self._settler.finish(
                call, FinishReason.RELEASED, detail="released before dialing"
            )
        elif call.interrupt is Interrupt.STOPPING:
            await self._settler.unclaim(call)
        elif call.interrupt is Interrupt.LEASE_LOST:
            call.finished = True
        else:
            waited = self.settings.slot_wait_seconds
            await self._settler.finish(
                call,
                FinishReason.MAX_OUT_CALL_REACHED,
                detail=f"no call slot within {waited:g} s: {why}",
            )
        return False


async def _acquire(
    call: Call,
    acquire: Awaitable[object],
    undo: Callable[[], None] | None,
    timeout: float | None = None,
) -> bool:
    """Await ``acquire`` until the session's deadline (or ``timeout``) or an interrupt.

    False when it did not complete in time; an acquisition that completes while being
    abandoned is undone with ``undo``.
    """
    left = call.deadline - _loop_time()
    if timeout is not None:
        left = min(left, timeout)
    acquire_task = asyncio.ensure_future(acquire)
    if call.interrupt is None and left > 0:
        interrupt_task = asyncio.ensure_future(call.interrupted.wait())
        done, _ = await asyncio.wait(
            {acquire_task, interrupt_task}, timeout=left, return_when=asyncio.FIRST_COMPLETED
        )
        interrupt_task.cancel()
        if acquire_task in done and acquire_task.exception() is None:
            return True
    acquire_task.cancel()
    await asyncio.gather(acquire_task, return_exceptions=True)
    if not acquire_task.cancelled() and acquire_task.exception() is None and undo:
        undo()
    return False


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
