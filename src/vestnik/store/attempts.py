"""The end of an attempt: the session is retried (back to the queue) or finished, once.

One transaction decides it (``end_attempt``): the retry rule (``calls.retry.next_attempt_at``)
on the session's stored options, then either ONE owner-guarded UPDATE back to ``queued``
(lease cleared, ``scheduled_at`` = the next attempt, the attempt appended to ``attempt_log``,
the last attempt's SIP fields kept) with its ``attempt_failed`` event, or the one finish rule
(``store.sessions.finish_session``) with its ``call_finished``. The attempt's recording, if
any, is stored in the same transaction. Like the rest of the store, it commits nothing itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.calls import CallState, FinishReason
from vestnik.calls.events import EventType
from vestnik.calls.options import AnsweredBy
from vestnik.calls.ports import Recording
from vestnik.calls.retry import next_attempt_at
from vestnik.calls.session import CallSession
from vestnik.store.account_calls import forget_room
from vestnik.store.outbox import record_event
from vestnik.store.recordings import save_recording
from vestnik.store.schema import call_sessions
from vestnik.store.sessions import (
    ATTEMPT_END_VALUES,
    NOT_FINISHED,
    attempt_values,
    finish_session,
)

_c = call_sessions.c
_ATTEMPT = sa.select(_c.attempt_count, _c.release_requested).where(
    _c.id == sa.bindparam("sid"), _c.lease_owner == sa.bindparam("owner"), NOT_FINISHED
)
_RETRY = (
    call_sessions.update()
    .where(
        _c.id == sa.bindparam("sid"),
        _c.lease_owner == sa.bindparam("owner"),
        _c.release_requested.is_(False),
        NOT_FINISHED,
    )
    .values(
        state=CallState.QUEUED.value,
        lease_owner=None,
        lease_expires_at=None,
        scheduled_at=sa.bindparam("next_at"),
        finish_detail=sa.bindparam("detail", type_=sa.Text),
        **ATTEMPT_END_VALUES,
    )
    .returning(*call_sessions.c)
)


class AttemptEnd(StrEnum):
    RETRIED = "retried"  # back in the queue until scheduled_at
    FINISHED = "finished"  # the session is over
    GONE = "gone"  # not ours any more (final already, or the lease was lost)


@dataclass(frozen=True)
class EndedAttempt:
    outcome: AttemptEnd
    session: CallSession | None = None


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to (the dialer's view of ``CallResult``)."""

    reason: FinishReason
    detail: str | None = None
    sip_code: int | None = None
    sip_reason: str | None = None
    sip_call_id: str | None = None
    trunk: str | None = None
    attempts: list[dict[str, Any]] | None = None  # every INVITE: trunk, sip_code, sip_reason
    dtmf_reply: str | None = None
    answered_by: AnsweredBy | None = None
    recording: Recording | None = None
    speech_reply: str | None = None
    speech_intent: str | None = None


def end_attempt(
    conn: Connection, session: CallSession, owner: str, at: float, result: AttemptResult
) -> EndedAttempt:
    """End the attempt that ``session`` (as it was when the attempt began) is in.

    Retried when the rule allows it and no ``release.call`` arrived meanwhile; a release that
    stops a retry ends the session ``released`` (the attempt's own outcome stays in
    ``attempt_log``). Otherwise finished with the result.
    """
    if session.options is None or session.options.retry is None:
        # Nothing to retry (every plain call): no read, the finish is owner-guarded itself.
        made, released = session.attempt_count, False
    else:
        row = conn.execute(_ATTEMPT, {"sid": session.id, "owner": owner}).first()
        if row is None:
            return EndedAttempt(AttemptEnd.GONE)
        made, released = int(row[0]), bool(row[1])
    entry = _log_entry(session, made, at, result)
    log = [*session.attempt_log, entry]
    fields = attempt_values(_fields(result)) | {"attempt_log": log}
    next_at = next_attempt_at(session.options, result.reason, made, at)
    reason, detail = result.reason, result.detail
    if next_at is not None and not released:
        params = {"sid": session.id, "owner": owner, "next_at": next_at, "detail": detail}
        rows = conn.execute(_RETRY, params | fields).mappings()
        retried = [CallSession.from_row(r) for r in rows]
        if retried:
            forget_room(conn, session.account_id)  # the attempt's call is over
            failed = dataclasses.replace(retried[0], finish_reason=reason, end_at=at)
            record_event(conn, failed, EventType.ATTEMPT_FAILED, at)
            _save(conn, retried[0], made, at, result)
            return EndedAttempt(AttemptEnd.RETRIED, retried[0])
    if next_at is not None:  # release.call asked to stop (before, or just now): no more
        reason = FinishReason.RELEASED
        detail = f"released between attempts (attempt {made} ended {result.reason.value})"
    finished = finish_session(conn, session.id, owner, at, reason, detail=detail, **fields)
    if finished is None:
        return EndedAttempt(AttemptEnd.GONE)
    _save(conn, finished, made, at, result)
    return EndedAttempt(AttemptEnd.FINISHED, finished)


def finish_undialled(
    conn: Connection, session_id: int, owner: str, at: float, result: AttemptResult
) -> EndedAttempt:
    """A session that never began an attempt (no route, no slot, released before the INVITE):
    the one finish rule, nothing to retry."""
    finished = finish_session(
        conn, session_id, owner, at, result.reason, detail=result.detail,
        sip_call_id=result.sip_call_id,
    )  # fmt: skip
    return EndedAttempt(AttemptEnd.GONE if finished is None else AttemptEnd.FINISHED, finished)


def _fields(result: AttemptResult) -> dict[str, Any]:
    return {
        "sip_code": result.sip_code,
        "sip_reason": result.sip_reason,
        "sip_call_id": result.sip_call_id,
        "trunk": result.trunk,
        "attempts": result.attempts,
        "dtmf_reply": result.dtmf_reply,
        "answered_by": None if result.answered_by is None else result.answered_by.value,
        "speech_reply": result.speech_reply,
        "speech_intent": result.speech_intent,
    }


def _log_entry(
    session: CallSession, attempt: int, at: float, result: AttemptResult
) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "dial_at": session.dial_at,
        "end_at": at,
        "trunk": result.trunk,
        "sip_code": result.sip_code,
        "sip_reason": result.sip_reason,
        "finish_reason": result.reason.value,
        "answered_by": None if result.answered_by is None else result.answered_by.value,
        "dtmf_reply": result.dtmf_reply,
        "speech_reply": result.speech_reply,
        "speech_intent": result.speech_intent,
    }


def _save(
    conn: Connection, session: CallSession, attempt: int, at: float, result: AttemptResult
) -> None:
    if result.recording is not None:
        save_recording(
            conn,
            session_id=session.id,
            account_id=session.account_id,
            attempt=attempt,
            recording=result.recording,
            at=at,
        )
