"""How a session in hand ends: finished with a reason, back in the queue for its next attempt
(a retry, ``store.attempts``), or given back to the queue undialled.

Every session the dialer claims ends one of these ways, whatever happens; the final write is
retried through database outages (``DialerDatabase.write``), and one that cannot be written
leaves the session to its lease (a sweep or a restart settles it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

from vestnik.calls import FinishReason
from vestnik.calls.events import iso
from vestnik.calls.options import AnsweredBy
from vestnik.calls.ports import Recording, TrunkAttempt
from vestnik.dialer.call import Call, Interrupt
from vestnik.dialer.database import DialerDatabase
from vestnik.store import attempts as store_attempts
from vestnik.store import leases
from vestnik.store.attempts import AttemptEnd, AttemptResult
from vestnik.store.db import now
from vestnik.store.health import is_unavailable

log = logging.getLogger("vestnik.dialer")


class Settler:
    def __init__(self, db: DialerDatabase, owner: str) -> None:
        self._db = db
        self._owner = owner

    async def finish(
        self,
        call: Call,
        reason: FinishReason,
        *,
        detail: str | None = None,
        sip_code: int | None = None,
        sip_reason: str | None = None,
        sip_call_id: str | None = None,
        trunk: str | None = None,
        attempts: tuple[TrunkAttempt, ...] | None = None,
        dtmf_reply: str | None = None,
        answered_by: AnsweredBy | None = None,
        recording: Recording | None = None,
        speech_reply: str | None = None,
        speech_intent: str | None = None,
    ) -> None:
        """Write the end of the session's attempt (after the call's pending progress writes),
        retrying; while the database is unavailable, until it answers (or the dialer stops:
        the lease lapses). A session whose attempt began (``dialing``) may go back to the
        queue for its next attempt (``store.attempts``); any other ends finished."""
        if call.finished:
            return
        call.finished = True
        if call.writes is not None:
            await asyncio.gather(call.writes, return_exceptions=True)
        result = AttemptResult(
            reason, detail, sip_code, sip_reason, sip_call_id, trunk,
            None if attempts is None else [asdict(a) for a in attempts],
            dtmf_reply, answered_by, recording, *_speech(call, speech_reply, speech_intent),
        )  # fmt: skip
        try:
            if call.dialing:
                ended = await self._db.write(
                    store_attempts.end_attempt, call.session, self._owner, now(), result
                )
            else:
                ended = await self._db.write(
                    store_attempts.finish_undialled, call.id, self._owner, now(), result
                )
        except Exception:
            log.exception("session %d: final write failed; its lease will lapse", call.id)
            return
        if ended.outcome is AttemptEnd.GONE:
            log.warning("session %d: not finished by us (already final or lease lost)", call.id)
        elif ended.outcome is AttemptEnd.RETRIED and ended.session is not None:
            log.info(
                "session %d attempt %d ended %s (sip %s): next attempt at %s", call.id,
                ended.session.attempt_count, reason.value, sip_code,
                iso(ended.session.scheduled_at),
            )  # fmt: skip
        else:
            final = ended.session.finish_reason if ended.session else None
            log.info(
                "session %d finished: %s (sip %s %s%s)", call.id, final, sip_code,
                sip_reason or "", f", trunk {trunk}" if trunk else "",
            )  # fmt: skip

    async def unclaim(
        self, call: Call, if_dialled: str = "dialer stopped while dialing began"
    ) -> None:
        """Give an undialled session back to the queue; if it was dialled after all, finish
        it ``internal_error`` with ``if_dialled``."""
        try:
            given_back = await self._db.run(leases.unclaim, call.id, self._owner)
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
            await self.finish(call, FinishReason.INTERNAL_ERROR, detail=if_dialled)

    async def gone(self, call: Call) -> None:
        """``begin_dialing`` found the session no longer ours to dial: settle what is ours."""
        if not await self._db.run(leases.held_by, call.id, self._owner):
            call.finished = True
            return
        # Still ours and queued, so release.call asked for it.
        await self.finish(call, FinishReason.RELEASED, detail="released before dialing")

    async def failed(self, call: Call, detail: str) -> None:
        """Last resort: the session task failed or was cancelled; leave nothing unfinished."""
        if call.finished:
            return
        if call.handle is not None:
            call.handle.release()
        if not call.dialing and call.interrupt is Interrupt.STOPPING:
            await self.unclaim(call)
            return
        await self.finish(call, FinishReason.INTERNAL_ERROR, detail=detail)


def _speech(call: Call, reply: str | None, intent: str | None) -> tuple[str | None, str | None]:
    """A spoken reply as stored: "" (nothing recognised) when ``collect_speech`` was asked and
    the call brought no text (never answered, or the telephony had none to give)."""
    options = call.session.options
    if reply is None and options is not None and options.collect_speech is not None:
        return "", None
    return reply, intent
