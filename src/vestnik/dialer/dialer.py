"""The dialer: claims queued sessions, renders their message, places the calls, records outcomes.

One ``Dialer`` per process. Its loops:

- claim: take queued sessions from the table (the work queue) while there is room;
- renew: extend the leases of every session in hand (``lease_seconds / 3``);
- release: poll ``release_requested`` for sessions in hand (~200 ms) and hang those up;
- sweep: settle sessions of dialers that stopped renewing (``store.leases.recover_expired``).

Per session: claim → render (a task, so audio is ready at answer) → blacklist check → slot
(per-account FIFO, process cap, trunk rate, then the account cap checked atomically with the
``dialing`` transition) → ``Telephony.place_call`` → observer writes ringing/answered → result
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
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine

from vestnik import metrics
from vestnik.calls import FinishReason, MessageType
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import (
    CallHandle,
    CallResult,
    DialSpec,
    MessageRenderer,
    MessageSpec,
    Telephony,
)
from vestnik.calls.session import CallSession
from vestnik.config import Config
from vestnik.dialer.limits import CallRate
from vestnik.store import leases
from vestnik.store import sessions as store
from vestnik.store.batching import GroupCommit
from vestnik.store.db import now
from vestnik.store.health import BACKOFF_CAP_SECONDS, DATABASE, Backoff, is_unavailable

log = logging.getLogger("vestnik.dialer")

T = TypeVar("T")

RELEASE_POLL_SECONDS = 0.2
# While an account is at its cap, the head waiter re-checks this often (calls may end in
# other processes, which we cannot hear about).
ACCOUNT_RECHECK_SECONDS = 0.25
# After the drain bound, hung-up calls get this long to report their result.
CUT_GRACE_SECONDS = 5.0
CLAIM_BATCH = 100
# How often a sweep held after an outage looks whether the database answers again.
HOLD_POLL_SECONDS = 0.25
# A call's writes are retried while the database is unavailable; other failures this often.
WRITE_RETRIES = 4
WRITE_RETRY_SECONDS = 0.2


def default_dialer_id(config: Config) -> str:
    """Stable across restarts of the same deployment: host name and SIP port."""
    return config.dialer.id or f"{socket.gethostname()}:{config.sip.port}"


class Interrupt(StrEnum):
    """Why a session stopped waiting for its slot."""

    RELEASED = "released"  # release.call
    STOPPING = "stopping"  # dialer stopping: give the session back to the queue
    LEASE_LOST = "lease_lost"  # another dialer settled it: hands off


@dataclass(eq=False)
class _Call:
    """A session in hand."""

    session: CallSession
    deadline: float  # loop time by which the call must have a slot
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    interrupt: Interrupt | None = None
    render: asyncio.Task[Pcm] | None = None
    handle: CallHandle | None = None
    dialing: bool = False  # the dialing transition is committed: never give it back
    cut: bool = False  # hung up by our own shutdown
    overrun: bool = False  # hung up for lasting longer than max_call_seconds
    finished: bool = False
    sip_call_id: str | None = None
    writes: asyncio.Future[None] | None = None  # tail of the ordered progress writes
    task: asyncio.Task[None] | None = None

    @property
    def id(self) -> int:
        return self.session.id

    @property
    def account_id(self) -> int:
        return self.session.account_id

    def stop_waiting(self, why: Interrupt) -> None:
        if self.interrupt is None:
            self.interrupt = why
        self.interrupted.set()


@dataclass
class _SlotWait:
    """What one session's wait for a slot has gathered so far."""

    have_token: bool = False  # the trunk rate let it through (kept across retries)
    account_full: str | None = None  # set once the account's cap has held it up


@dataclass
class _AccountGate:
    """Serialises one account's waiters (FIFO) so only the head polls the database."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    freed: asyncio.Event = field(default_factory=asyncio.Event)


class _Observer:
    def __init__(self, dialer: Dialer, call: _Call) -> None:
        self._dialer = dialer
        self._call = call

    def on_dialing(self, sip_call_id: str) -> None:
        # Stored with the next transition: saves a write on the hot path.
        self._call.sip_call_id = sip_call_id

    def on_ringing(self) -> None:
        self._dialer._write(
            self._call, store.mark_ringing, self._call.id, self._dialer.owner, now(),
            self._call.sip_call_id,
        )  # fmt: skip

    def on_answered(self) -> None:
        at = now()
        dial_at = self._call.session.dial_at
        if dial_at is not None:
            metrics.observe_time_to_answer(at - dial_at)
        self._dialer._write(
            self._call, store.mark_answered, self._call.id, self._dialer.owner, at,
            self._call.sip_call_id,
        )  # fmt: skip


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
        self.engine = engine
        self.telephony = telephony
        self.renderer = renderer
        self.dialer_id = dialer_id or default_dialer_id(config)
        self.owner = leases.lease_owner_for(self.dialer_id, secrets.token_hex(8))
        self._calls: dict[int, _Call] = {}
        self._gates: dict[int, _AccountGate] = {}
        # Never more calls than the telephony can carry (its RTP ports): beyond that a call
        # would fail at once instead of waiting for a slot like any other.
        self.max_calls = max(1, self.settings.max_concurrent_calls)
        if telephony.max_calls is not None:
            self.max_calls = max(1, min(self.max_calls, telephony.max_calls))
        self._slots = asyncio.Semaphore(self.max_calls)
        self._rate = CallRate(config.trunk.calls_per_second)
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._db = GroupCommit(engine)

    # -- public -------------------------------------------------------------------------

    @property
    def active_sessions(self) -> int:
        """Sessions in hand (waiting for a slot or on a call)."""
        return len(self._calls)

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
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        recovered = await self._tx(leases.recover_previous_run, self.dialer_id, self.owner, now())
        if recovered.requeued or recovered.finished:
            log.warning(
                "dialer %s: previous run left %d undialled sessions (requeued) and %d calls "
                "(finished internal_error): %s",
                self.dialer_id, len(recovered.requeued), len(recovered.finished),
                recovered.finished[:20],
            )  # fmt: skip
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="dialer-claim"),
            asyncio.create_task(self._renew_loop(), name="dialer-renew"),
            asyncio.create_task(self._release_loop(), name="dialer-release"),
            asyncio.create_task(self._sweep_loop(), name="dialer-sweep"),
        ]
        log.info("dialer %s started (lease owner %s)", self.dialer_id, self.owner)

    async def stop(self, graceful: bool = True) -> None:
        """Stop claiming; give undialled sessions back; let calls end (up to the drain bound).

        Calls still up after ``shutdown_grace`` (at once when not ``graceful``) are hung
        up and finished ``internal_error``; every session in hand ends final or back in the
        queue before this returns.
        """
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        if self._loops:
            # Not cancelled: a claim in flight must come back and be handled (given back).
            await asyncio.gather(self._loops[0], return_exceptions=True)
        for call in list(self._calls.values()):
            if not call.dialing:
                call.stop_waiting(Interrupt.STOPPING)
        drain = self.settings.shutdown_grace if graceful else 0.0
        await self._wait_calls(drain)
        if self._calls:
            log.warning("dialer stopping: hanging up %d calls still up", len(self._calls))
            self.hang_up_all()
            await self._wait_calls(CUT_GRACE_SECONDS)
        for call in list(self._calls.values()):
            if call.task is not None:
                call.task.cancel()
        await self._wait_calls(CUT_GRACE_SECONDS)
        for task in self._loops[1:]:
            task.cancel()
        await asyncio.gather(*self._loops[1:], return_exceptions=True)
        self._loops = []
        await self._db.close()
        log.info("dialer %s stopped", self.dialer_id)

    def hang_up_all(self) -> None:
        """Hang up every call in hand now (shutdown); they finish ``internal_error``."""
        for call in list(self._calls.values()):
            call.cut = True
            call.stop_waiting(Interrupt.STOPPING)
            if call.handle is not None:
                call.handle.release()

    async def _wait_calls(self, timeout: float) -> None:
        tasks = [c.task for c in self._calls.values() if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, timeout))

    # -- database ------------------------------------------------------------------------

    async def _tx(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in a transaction on the database thread (group commit)."""
        return await self._db.run(fn, *args)

    async def _tx_written(self, fn: Callable[..., T], *args: Any) -> T:
        """``_tx``, retried with back-off for as long as the database is unavailable, and up
        to ``WRITE_RETRIES`` times for other failures (then it raises)."""
        delay = WRITE_RETRY_SECONDS
        failures = 0
        while True:
            started = time.monotonic()
            try:
                result = await self._tx(fn, *args)
            except Exception as exc:
                failures += 1
                outage = DATABASE.failed("dialer call write", exc, started)
                if not outage and failures >= WRITE_RETRIES:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP_SECONDS)
                continue
            DATABASE.ok("dialer call write", started)
            return result

    def _write(self, call: _Call, fn: Callable[..., object], *args: Any) -> None:
        """Queue a progress write for ``call``; writes of one call commit in order."""
        previous = call.writes

        async def chained() -> None:
            if previous is not None:
                await previous
            try:
                await self._tx_written(fn, *args)
            except Exception:
                log.exception("session %d: progress write %s failed", call.id, fn.__name__)

        call.writes = asyncio.ensure_future(chained())

    # -- loops ---------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        limit = self.max_calls + max(0, self.settings.max_waiting_sessions)
        backoff = Backoff("dialer claim", self.settings.poll_interval_seconds)
        while not self._stopping:
            # Cleared before the claim, so a wake() (or stop()) during it is not lost.
            self._wake.clear()
            room = limit - len(self._calls)
            asked = min(room, CLAIM_BATCH)
            claim = store.Claim()
            if asked > 0:
                started = time.monotonic()
                try:
                    claim = await self._tx(
                        store.claim_for_dialing,
                        self.owner, asked, self.settings.lease_seconds, now(),
                    )  # fmt: skip
                except Exception as exc:
                    await self._idle(backoff.failed(exc, started))
                    continue
                backoff.ok(started)
            for done in claim.settled:
                log.info("session %d finished at claim: %s", done.id, done.finish_reason)
            loop_now = asyncio.get_running_loop().time()
            for session in claim.to_dial:
                call = _Call(session=session, deadline=loop_now + self.settings.slot_wait_seconds)
                self._calls[call.id] = call
                call.task = asyncio.create_task(self._run(call), name=f"session-{call.id}")
            short = asked == 0 or len(claim.to_dial) + len(claim.settled) < asked
            if short and not self._stopping:
                await self._idle(self.settings.poll_interval_seconds)

    async def _idle(self, seconds: float) -> None:
        """Wait ``seconds``, or less when woken (a new session, a call ended, stop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _renew_loop(self) -> None:
        period = max(0.05, self.settings.lease_seconds / 3)
        backoff = Backoff("dialer lease renewal", self.settings.poll_interval_seconds)
        delay = period
        while True:
            await asyncio.sleep(delay)
            delay = period
            ids = [c.id for c in self._calls.values() if not c.finished]
            if not ids:
                continue
            started = time.monotonic()
            try:
                held = await self._tx(
                    leases.renew_leases, self.owner, ids, self.settings.lease_seconds, now()
                )
            except Exception as exc:
                delay = min(period, backoff.failed(exc, started))  # the leases are running out
                continue
            backoff.ok(started)
            for session_id in set(ids) - held:
                call = self._calls.get(session_id)
                if call is None or call.finished:
                    continue
                log.error("session %d: lease lost; hanging up", session_id)
                call.stop_waiting(Interrupt.LEASE_LOST)
                if call.handle is not None:
                    call.handle.release()

    async def _release_loop(self) -> None:
        backoff = Backoff("dialer release poll", RELEASE_POLL_SECONDS)
        delay = RELEASE_POLL_SECONDS
        while True:
            await asyncio.sleep(delay)
            delay = RELEASE_POLL_SECONDS
            if not self._calls:
                continue
            started = time.monotonic()
            try:
                ids = await self._tx(leases.release_requested, self.owner)
            except Exception as exc:
                delay = backoff.failed(exc, started)
                continue
            backoff.ok(started)
            for session_id in ids:
                call = self._calls.get(session_id)
                if call is None or call.finished:
                    continue
                call.stop_waiting(Interrupt.RELEASED)
                if call.handle is not None:
                    call.handle.release()

    async def _sweep_loop(self) -> None:
        period = max(0.1, self.settings.lease_seconds / 2)
        backoff = Backoff("dialer sweep", self.settings.poll_interval_seconds)
        while True:
            await asyncio.sleep(period)
            started = time.monotonic()
            try:
                recovered = await self._tx(leases.recover_expired, now())
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
                self._wake.set()

    async def _hold_sweep(self) -> None:
        """After a failed sweep: wait until the database answers again, then one lease more.

        Leases lapse during a long outage; live dialers renew theirs within that lease (their
        renewal retries every few seconds), so a sweep settles only the sessions of dialers
        that are really gone.
        """
        while not DATABASE.up:
            await asyncio.sleep(HOLD_POLL_SECONDS)
        await asyncio.sleep(self.settings.lease_seconds)

    # -- one session ---------------------------------------------------------------------

    async def _run(self, call: _Call) -> None:
        try:
            await self._dial(call)
        except asyncio.CancelledError:
            await self._settle_failed(call, "dialer stopped before the call ended")
            raise
        except Exception as exc:
            if not call.dialing and is_unavailable(exc):
                # Nothing was dialled: back to the queue (or, when that cannot be written
                # either, its lease lapses and a sweep requeues it).
                await self._unclaim(call, "database unavailable while dialing began")
            else:
                log.exception("session %d failed", call.id)
                await self._settle_failed(call, f"dialer error: {type(exc).__name__}: {exc}")
        finally:
            if call.render is not None:
                if call.render.done():
                    _ = call.render.cancelled() or call.render.exception()  # retrieved
                else:
                    call.render.cancel()
            self._calls.pop(call.id, None)
            gate = self._gates.get(call.account_id)
            if gate is not None:
                gate.freed.set()
            self._wake.set()

    async def _settle_failed(self, call: _Call, detail: str) -> None:
        """Last resort: the session task failed or was cancelled; leave nothing unfinished."""
        if call.finished:
            return
        if call.handle is not None:
            call.handle.release()
        if not call.dialing and call.interrupt is Interrupt.STOPPING:
            await self._unclaim(call)
            return
        await self._finish(call, FinishReason.INTERNAL_ERROR, detail=detail)

    async def _dial(self, call: _Call) -> None:
        # Blacklisted and released sessions were settled by the claim itself; a blacklisting
        # that lands while this one waits is caught by begin_dialing.
        call.render = asyncio.create_task(self.renderer.render(_message_spec(call.session)))
        if not await self._take_slot(call):
            return
        try:
            await self._place(call)
        finally:
            self._slots.release()

    async def _place(self, call: _Call) -> None:
        render = call.render
        assert render is not None
        if call.interrupt is Interrupt.RELEASED:
            await self._finish(call, FinishReason.RELEASED, detail="released before the INVITE")
            return
        if render.done() and render.exception() is not None:
            await self._finish(
                call,
                FinishReason.INTERNAL_ERROR,
                detail=f"message render failed: {render.exception()}",
            )
            return
        render.add_done_callback(lambda task: self._on_render_done(call, task))
        call.handle = self.telephony.place_call(
            _dial_spec(call.session), render, _Observer(self, call)
        )
        if call.interrupt in (Interrupt.RELEASED, Interrupt.LEASE_LOST):
            call.handle.release()
        outcome = asyncio.ensure_future(call.handle.result())
        limit = self.settings.max_call_seconds
        done, _ = await asyncio.wait({outcome}, timeout=limit if limit > 0 else None)
        if not done:
            log.error("session %d: call still up after %g s; hanging up", call.id, limit)
            call.overrun = True
            call.handle.release()
            done, _ = await asyncio.wait({outcome}, timeout=CUT_GRACE_SECONDS)
        if not done:
            outcome.cancel()
            await self._finish(
                call,
                FinishReason.INTERNAL_ERROR,
                detail="the telephony adapter never reported the end of the call",
                sip_call_id=call.sip_call_id,
            )
            return
        await self._finish_with_result(call, outcome.result())

    def _on_render_done(self, call: _Call, task: asyncio.Task[Pcm]) -> None:
        if not task.cancelled() and task.exception() is not None and call.handle is not None:
            log.error("session %d: message render failed: %s", call.id, task.exception())
            call.handle.release()

    async def _finish_with_result(self, call: _Call, result: CallResult) -> None:
        if result.first_audio_delay is not None:
            metrics.observe_answer_to_first_audio(result.first_audio_delay)
        reason = result.finish_reason
        detail = result.detail
        render = call.render
        render_error = (
            render.exception()
            if render is not None and render.done() and not render.cancelled()
            else None
        )
        if render_error is not None:
            reason, detail = FinishReason.INTERNAL_ERROR, f"message render failed: {render_error}"
        elif call.overrun and reason is not FinishReason.SUCCESS_FINISH:
            reason = FinishReason.INTERNAL_ERROR
            limit = self.settings.max_call_seconds
            detail = f"hung up by the dialer: call longer than max_call_seconds ({limit:g} s)"
        elif call.cut and reason is not FinishReason.SUCCESS_FINISH:
            reason = FinishReason.INTERNAL_ERROR
            detail = "hung up by dialer shutdown (drain timeout passed, or a forced stop)"
        elif call.interrupt is Interrupt.RELEASED and reason is not FinishReason.SUCCESS_FINISH:
            reason = FinishReason.RELEASED
            detail = detail or "released by release.call"
        await self._finish(
            call,
            reason,
            detail=detail,
            sip_code=result.sip_code,
            sip_reason=result.sip_reason,
            sip_call_id=result.sip_call_id or call.sip_call_id,
        )

    async def _take_slot(self, call: _Call) -> bool:
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
        if not await self._acquire(call, gate.lock.acquire(), gate.lock.release):
            blocker = wait.account_full or "earlier sessions of the account still waiting"
            return await self._no_slot(call, blocker)
        try:
            while True:
                started = await self._try_dial(call, wait)
                if started is not None:
                    return started
                gate.freed.clear()
                freed = await self._acquire(call, gate.freed.wait(), None, ACCOUNT_RECHECK_SECONDS)
                if not freed and call.interrupt is not None:
                    return await self._no_slot(call, wait.account_full or "interrupted")
        finally:
            gate.lock.release()

    async def _try_dial(self, call: _Call, wait: _SlotWait) -> bool | None:
        """One attempt: process slot, trunk rate, then queued → dialing with the account check.

        True/False as ``_take_slot``; None: the account is at its cap (nothing held).
        """
        if wait.account_full and self._loop_time() >= call.deadline:
            return await self._no_slot(call, wait.account_full)
        if not await self._acquire(call, self._slots.acquire(), self._slots.release):
            blocker = f"process call limit {self.max_calls} reached"
            if wait.account_full and not self._slots.locked():
                blocker = wait.account_full  # the deadline passed, not the process limit
            return await self._no_slot(call, blocker)
        if not wait.have_token:
            if not await self._acquire(call, self._rate.take(), None):
                self._slots.release()
                rate = self.config.trunk.calls_per_second
                return await self._no_slot(call, wait.account_full or f"trunk rate {rate:g}/s")
            wait.have_token = True
        try:
            begin = await self._tx(
                store.begin_dialing, call.id, self.owner, self.settings.lease_seconds
            )
        except BaseException:
            self._slots.release()
            raise
        if begin.outcome is store.DialStart.STARTED:
            call.dialing = True
            if begin.session is not None:
                call.session = begin.session
            return True
        self._slots.release()
        if begin.outcome is store.DialStart.BLACKLISTED:
            call.finished = True
            return False
        if begin.outcome is store.DialStart.GONE:
            await self._gone(call)
            return False
        wait.account_full = "account concurrent call limit reached"
        return None

    async def _gone(self, call: _Call) -> None:
        """begin_dialing found the session no longer ours to dial: settle what is ours."""
        row = await self._tx(store.get_session, call.id)
        if row is None or row["state"] == "finished" or row["lease_owner"] != self.owner:
            call.finished = True
            return
        # Still ours and queued, so release.call asked for it.
        await self._finish(call, FinishReason.RELEASED, detail="released before dialing")

    async def _no_slot(self, call: _Call, why: str) -> bool:
        if call.interrupt is Interrupt.RELEASED:
            await self._finish(call, FinishReason.RELEASED, detail="released before dialing")
        elif call.interrupt is Interrupt.STOPPING:
            await self._unclaim(call)
        elif call.interrupt is Interrupt.LEASE_LOST:
            call.finished = True
        else:
            waited = self.settings.slot_wait_seconds
            await self._finish(
                call,
                FinishReason.MAX_OUT_CALL_REACHED,
                detail=f"no call slot within {waited:g} s: {why}",
            )
        return False

    async def _acquire(
        self,
        call: _Call,
        acquire: Awaitable[object],
        undo: Callable[[], None] | None,
        timeout: float | None = None,
    ) -> bool:
        """Await ``acquire`` until the session's deadline (or ``timeout``) or an interrupt.

        False when it did not complete in time; an acquisition that completes while being
        abandoned is undone with ``undo``.
        """
        left = call.deadline - self._loop_time()
        if timeout is not None:
            left = min(left, timeout)
        if call.interrupt is not None or left <= 0:
            acquire_task = asyncio.ensure_future(acquire)
            acquire_task.cancel()
            await asyncio.gather(acquire_task, return_exceptions=True)
            if not acquire_task.cancelled() and acquire_task.exception() is None and undo:
                undo()
            return False
        acquire_task = asyncio.ensure_future(acquire)
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

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    async def _unclaim(
        self, call: _Call, if_dialled: str = "dialer stopped while dialing began"
    ) -> None:
        """Give an undialled session back to the queue; if it was dialled after all, finish
        it ``internal_error`` with ``if_dialled``."""
        try:
            given_back = await self._tx(leases.unclaim, call.id, self.owner)
        except Exception as exc:
            if is_unavailable(exc):  # the outage itself is logged once, by store.health
                log.debug("session %d: not given back (database down), lease lapses", call.id)
            else:
                log.exception("session %d: giving back to the queue failed (lease lapses)", call.id)
            call.finished = True
            return
        if given_back:
            call.finished = True
        else:
            await self._finish(call, FinishReason.INTERNAL_ERROR, detail=if_dialled)

    async def _finish(
        self,
        call: _Call,
        reason: FinishReason,
        *,
        detail: str | None = None,
        sip_code: int | None = None,
        sip_reason: str | None = None,
        sip_call_id: str | None = None,
    ) -> None:
        """Write the final state (after the call's pending progress writes), retrying; while
        the database is unavailable, until it answers (or the dialer stops: the lease lapses)."""
        if call.finished:
            return
        call.finished = True
        if call.writes is not None:
            await asyncio.gather(call.writes, return_exceptions=True)
        at = now()
        finish = partial(
            store.finish_session,
            detail=detail,
            sip_code=sip_code,
            sip_reason=sip_reason,
            sip_call_id=sip_call_id,
        )
        try:
            finished = await self._tx_written(finish, call.id, self.owner, at, reason)
        except Exception:
            log.exception("session %d: final write failed; its lease will lapse", call.id)
            return
        if finished is None:
            log.warning("session %d: not finished by us (already final or lease lost)", call.id)
        else:
            log.info(
                "session %d finished: %s (sip %s %s)", call.id, reason.value, sip_code,
                sip_reason or "",
            )  # fmt: skip


def _message_spec(session: CallSession) -> MessageSpec:
    value = session.message_value
    if session.message_type is MessageType.MEDIA and session.media_file_id is not None:
        value = str(session.media_file_id)
    return MessageSpec(type=session.message_type, value=value, account_id=session.account_id)


def _dial_spec(session: CallSession) -> DialSpec:
    return DialSpec(
        session_id=session.id,
        caller=session.caller_number,
        contact=session.contact,
        contact_kind=session.contact_kind,
        dialing_timeout=session.dialing_timeout,
        dtmf=session.dtmf_string or "",
    )
