"""One session's run: render the message, wait for a slot, place the call, finish it.

The render starts at claim time (a task), so the audio is ready when the callee answers. The
call's progress (ringing, answered) is written by the observer as it happens, in order; its
result decides the finish reason. Whatever happens the session ends finished or back in the
queue (given back undialled, or waiting for its next attempt, ``store.attempts``): a run that
fails ends its attempt ``internal_error`` (``Settler.failed``).
"""

from __future__ import annotations

import asyncio
import logging

from vestnik import metrics
from vestnik.calls import FinishReason, MessageType
from vestnik.calls.audio import Pcm
from vestnik.calls.options import CallOptions
from vestnik.calls.ports import (
    CallResult,
    DialSpec,
    Listen,
    MessageRenderer,
    MessageSpec,
    Telephony,
)
from vestnik.calls.session import CallSession
from vestnik.config import DialerConfig
from vestnik.dialer.call import Call, InHand, Interrupt
from vestnik.dialer.database import DialerDatabase
from vestnik.dialer.routing import Router
from vestnik.dialer.settle import Settler
from vestnik.dialer.slots import Slots
from vestnik.store import sessions
from vestnik.store.db import now
from vestnik.store.health import is_unavailable

log = logging.getLogger("vestnik.dialer")

# After the drain bound (or max_call_seconds), hung-up calls get this long to report.
CUT_GRACE_SECONDS = 5.0


class _Observer:
    """Writes a call's progress as the telephony reports it (on the loop thread)."""

    def __init__(self, db: DialerDatabase, owner: str, call: Call) -> None:
        self._db = db
        self._owner = owner
        self._call = call

    def on_dialing(self, sip_call_id: str) -> None:
        # Stored with the next transition: saves a write on the hot path.
        self._call.sip_call_id = sip_call_id

    def on_ringing(self) -> None:
        call = self._call
        self._db.queue_write(
            call, sessions.mark_ringing, call.id, self._owner, now(), call.sip_call_id
        )

    def on_answered(self) -> None:
        at = now()
        call = self._call
        dial_at = call.session.dial_at
        if dial_at is not None:
            metrics.observe_time_to_answer(at - dial_at)
        self._db.queue_write(
            call, sessions.mark_answered, call.id, self._owner, at, call.sip_call_id
        )


class SessionRuns:
    def __init__(
        self,
        settings: DialerConfig,
        telephony: Telephony,
        renderer: MessageRenderer,
        hand: InHand,
        slots: Slots,
        settler: Settler,
        db: DialerDatabase,
        owner: str,
        router: Router,
    ) -> None:
        self.settings = settings
        self._router = router
        self.telephony = telephony
        self.renderer = renderer
        self._hand = hand
        self._slots = slots
        self._settler = settler
        self._db = db
        self._owner = owner

    def start(self, session: CallSession, deadline: float) -> None:
        """Take a claimed session in hand and run it; it must have a slot by ``deadline``."""
        call = Call(session=session, deadline=deadline)
        self._hand.calls[call.id] = call
        call.task = asyncio.create_task(self._run(call), name=f"session-{call.id}")

    async def _run(self, call: Call) -> None:
        try:
            await self._dial(call)
        except asyncio.CancelledError:
            await self._settler.failed(call, "dialer stopped before the call ended")
            raise
        except Exception as exc:
            if not call.dialing and is_unavailable(exc):
                # Nothing was dialled: back to the queue (or, when that cannot be written
                # either, its lease lapses and a sweep requeues it).
                await self._settler.unclaim(call, "database unavailable while dialing began")
            else:
                log.exception("session %d failed", call.id)
                await self._settler.failed(call, f"dialer error: {type(exc).__name__}: {exc}")
        finally:
            if call.render is not None:
                if call.render.done():
                    _ = call.render.cancelled() or call.render.exception()  # retrieved
                else:
                    call.render.cancel()
            self._hand.calls.pop(call.id, None)
            self._slots.account_freed(call.account_id)
            self._hand.wake.set()

    async def _dial(self, call: Call) -> None:
        # Blacklisted and released sessions were settled by the claim itself; a blacklisting
        # that lands while this one waits is caught by begin_dialing.
        call.route, refused = await self._router.route(call.session)
        if refused is not None:  # no configured trunk takes this account's call to it
            await self._settler.finish(call, FinishReason.OUT_CALL_NOT_ALLOWED, detail=refused)
            return
        call.render = asyncio.create_task(self.renderer.render(_message_spec(call.session)))
        if not await self._slots.take(call):
            return
        try:
            await self._place(call)
        finally:
            self._slots.release()

    async def _place(self, call: Call) -> None:
        render = call.render
        assert render is not None
        if call.interrupt is Interrupt.RELEASED:
            await self._settler.finish(
                call, FinishReason.RELEASED, detail="released before the INVITE"
            )
            return
        if render.done() and render.exception() is not None:
            await self._settler.finish(
                call,
                FinishReason.INTERNAL_ERROR,
                detail=f"message render failed: {render.exception()}",
            )
            return
        render.add_done_callback(lambda task: _on_render_done(call, task))
        observer = _Observer(self._db, self._owner, call)
        call.handle = self.telephony.place_call(_dial_spec(call), render, observer)
        if call.interrupt in (Interrupt.RELEASED, Interrupt.LEASE_LOST):
            call.handle.release()
        result = await self._outcome(call)
        if result is None:
            await self._settler.finish(
                call,
                FinishReason.INTERNAL_ERROR,
                detail="the telephony adapter never reported the end of the call",
                sip_call_id=call.sip_call_id,
            )
            return
        await self._finish_with_result(call, result)

    async def _outcome(self, call: Call) -> CallResult | None:
        """The call's result; a call longer than ``max_call_seconds`` is hung up first.
        None: the adapter did not report even then."""
        assert call.handle is not None
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
            return None
        return outcome.result()

    async def _finish_with_result(self, call: Call, result: CallResult) -> None:
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
        await self._settler.finish(
            call,
            reason,
            detail=detail,
            sip_code=result.sip_code,
            sip_reason=result.sip_reason,
            sip_call_id=result.sip_call_id or call.sip_call_id,
            trunk=result.trunk,
            attempts=result.attempts,
            dtmf_reply=result.dtmf_reply,
            answered_by=result.answered_by,
            recording=result.recording,
            speech_reply=result.speech_reply,
            speech_intent=result.speech_intent,
        )


def _on_render_done(call: Call, task: asyncio.Task[Pcm]) -> None:
    if not task.cancelled() and task.exception() is not None and call.handle is not None:
        log.error("session %d: message render failed: %s", call.id, task.exception())
        call.handle.release()


def _message_spec(session: CallSession) -> MessageSpec:
    value = session.message_value
    if session.message_type is MessageType.MEDIA and session.media_file_id is not None:
        value = str(session.media_file_id)
    return MessageSpec(type=session.message_type, value=value, account_id=session.account_id)


def _dial_spec(call: Call) -> DialSpec:
    session = call.session
    return DialSpec(
        session_id=session.id,
        caller=session.caller_number,
        contact=session.contact,
        contact_kind=session.contact_kind,
        dialing_timeout=session.dialing_timeout,
        dtmf=session.dtmf_string or "",
        route=call.route,
        listen=listen_spec(session.options),
    )


def listen_spec(options: CallOptions | None) -> Listen | None:
    """What the call must do with the callee's audio; None: nothing (today's call)."""
    if options is None or not options.listens:
        return None
    return Listen(
        options.collect_dtmf, options.detect_machine, options.record, options.collect_speech
    )
