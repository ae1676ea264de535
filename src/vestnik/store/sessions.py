"""The call-session table as the dialer's work queue: claims and state transitions.

A dialer *claims* queued sessions by writing its lease (``lease_owner``, ``lease_expires_at``)
and renews the lease while it works on them (``store.leases``). Every state change is one
conditional UPDATE guarded by the lease owner, so a dialer that lost its lease can no longer
write; the events of a change (``call_started``, ``call_answered``, ``call_finished``) are
written in the same transaction (transactional outbox), and ``call_finished`` only by the
UPDATE that moved the session out of a non-final state (the one finish rule, here), so there
is exactly one per session.

Crash rule: a session that never reached ``dialing`` was never dialled and may be claimed
again once its lease lapses; a session that reached ``dialing`` may have sent an INVITE and
is never dialled again: a lost one is finished with ``internal_error`` (``store.leases``).

On PostgreSQL the claim locks candidate rows with ``FOR UPDATE SKIP LOCKED`` so concurrent
dialers never take the same row; SQLite transactions start with ``BEGIN IMMEDIATE`` (one
writer at a time), which makes the same statements exclusive there. Functions take a
``Connection`` inside a transaction (``engine.begin()``) and commit nothing themselves.
The dialer gets sessions as ``CallSession``; the API and the admin CLI read them as rows
(``Row``: column name → value).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from vestnik.calls import CallState, FinishReason
from vestnik.calls.events import EventType
from vestnik.calls.retry import window_opening
from vestnik.calls.session import CallSession
from vestnik.store.account_calls import (
    CALL_STATES,
    account_room,
    forget_room,
)
from vestnik.store.blacklist import blacklisted_sessions, is_blacklisted
from vestnik.store.db import now
from vestnik.store.outbox import record_event
from vestnik.store.schema import accounts, call_sessions

Row = dict[str, Any]

NOT_FINISHED = call_sessions.c.state != CallState.FINISHED.value
IS_QUEUED = call_sessions.c.state == CallState.QUEUED.value


class DialStart(StrEnum):
    """What ``begin_dialing`` did."""

    STARTED = "started"  # state is now dialing: place the call
    ACCOUNT_FULL = "account_full"  # the account's concurrent-call cap is reached; retry later
    BLACKLISTED = "blacklisted"  # finished with numa_in_black_list
    GONE = "gone"  # no longer ours to dial (released, finished or lease lost)


@dataclass(frozen=True)
class BeginDialing:
    outcome: DialStart
    session: CallSession | None = None  # the session after the change (STARTED, BLACKLISTED)


def _returning(stmt: sa.Update) -> sa.Update:
    return stmt.returning(*call_sessions.c)


def _rows(result: sa.CursorResult[Any]) -> list[Row]:
    return [dict(r) for r in result.mappings()]


def _sessions(result: sa.CursorResult[Any]) -> list[CallSession]:
    return [CallSession.from_row(r) for r in result.mappings()]


# The per-call statements, built once: building a Core statement and its cache key costs more
# than running it, and the dialer runs several per call at 100+ calls per second.
_c = call_sessions.c
_SID: sa.BindParameter[int] = sa.bindparam("sid")
_OWNER: sa.BindParameter[str] = sa.bindparam("owner")
_AT: sa.BindParameter[float] = sa.bindparam("at")
_SESSION_CONTACT = sa.select(_c.account_id, _c.contact, _c.contact_kind).where(_c.id == _SID)
_LOCK_ACCOUNTS = (
    sa.select(accounts.c.id)
    .where(accounts.c.id.in_(sa.bindparam("account_ids", expanding=True)))
    .order_by(accounts.c.id)
    .with_for_update(key_share=True)
)
_MINE_QUEUED = sa.and_(
    _c.id == _SID, _c.lease_owner == _OWNER, _c.release_requested.is_(False), IS_QUEUED
)
_START_DIALING = (
    call_sessions.update()
    .where(_MINE_QUEUED)
    .values(
        state=CallState.DIALING.value,
        dial_at=_AT,
        dial_attempts=_c.dial_attempts + 1,
        lease_expires_at=sa.bindparam("lease_until"),
        # A new attempt, counted, with its own progress and outcome (a retry's earlier
        # attempts are in attempt_log).
        attempt_count=_c.attempt_count + 1,
        **dict.fromkeys(("scheduled_at", "ring_at", "answer_at", "finish_detail")),
        **dict.fromkeys(("sip_code", "sip_reason", "sip_call_id", "trunk", "attempts")),
    )
    .returning(*call_sessions.c)
)
# sip_call_id: keep what is stored when none is given.
_SIP_CALL_ID = sa.func.coalesce(sa.bindparam("sip_call_id", type_=sa.String), _c.sip_call_id)
_RINGING = (
    call_sessions.update()
    .where(_c.id == _SID, _c.lease_owner == _OWNER, _c.state == CallState.DIALING.value)
    .values(state=CallState.RINGING.value, ring_at=_AT, sip_call_id=_SIP_CALL_ID)
)
_ANSWERED = (
    call_sessions.update()
    .where(
        _c.id == _SID,
        _c.lease_owner == _OWNER,
        _c.state.in_((CallState.DIALING.value, CallState.RINGING.value)),
    )
    .values(state=CallState.ANSWERED.value, answer_at=_AT, sip_call_id=_SIP_CALL_ID)
    .returning(*call_sessions.c)
)


# None binds as SQL NULL (not JSON null), so that coalesce keeps a stored value.
_ATTEMPTS = sa.JSON(none_as_null=True)
# An attempt's outcome: each keeps the stored value when bound None (finish and retry alike).
ATTEMPT_END_VALUES: dict[str, Any] = {
    "sip_code": sa.func.coalesce(sa.bindparam("sip_code", type_=sa.Integer), _c.sip_code),
    "sip_reason": sa.func.coalesce(sa.bindparam("sip_reason", type_=sa.String), _c.sip_reason),
    "sip_call_id": _SIP_CALL_ID,
    "trunk": sa.func.coalesce(sa.bindparam("trunk", type_=sa.String), _c.trunk),
    "attempts": sa.func.coalesce(sa.bindparam("attempts", type_=_ATTEMPTS), _c.attempts),
    "attempt_log": sa.func.coalesce(sa.bindparam("attempt_log", type_=_ATTEMPTS), _c.attempt_log),
    "dtmf_reply": sa.func.coalesce(sa.bindparam("dtmf_reply", type_=sa.String), _c.dtmf_reply),
    "answered_by": sa.func.coalesce(sa.bindparam("answered_by", type_=sa.String), _c.answered_by),
    "speech_reply": sa.func.coalesce(sa.bindparam("speech_reply", type_=sa.Text), _c.speech_reply),
    "speech_intent": sa.func.coalesce(
        sa.bindparam("speech_intent", type_=sa.String), _c.speech_intent
    ),
}
# The bound values of ATTEMPT_END_VALUES that a caller may leave out (None: keep stored).
ATTEMPT_END_FIELDS = (
    "sip_code", "sip_reason", "sip_call_id", "trunk", "attempts", "attempt_log", "dtmf_reply",
    "answered_by", "speech_reply", "speech_intent",
)  # fmt: skip


def _finish_statement(guard: ColumnElement[bool]) -> sa.Update:
    """Any non-final state → finished; the attempt's fields keep stored values when None."""
    return (
        call_sessions.update()
        .where(guard, NOT_FINISHED)
        .values(
            state=CallState.FINISHED.value,
            finish_reason=sa.bindparam("reason"),
            finish_detail=sa.bindparam("detail", type_=sa.Text),
            end_at=_AT,
            lease_expires_at=None,
            scheduled_at=None,
            **ATTEMPT_END_VALUES,
        )
        .returning(*call_sessions.c)
    )


_FINISH_OWNED = _finish_statement(sa.and_(_c.id == _SID, _c.lease_owner == _OWNER))
_FINISH_MINE_QUEUED = _finish_statement(_MINE_QUEUED)


def claim_candidates(at: float, scheduled: bool, limit: int) -> sa.Select[Any]:
    """The ids one pass of a claim may take: due scheduled sessions (``scheduled``) or the
    unscheduled ones. Both are ordered by ``(scheduled_at, id)``, the index's own order, so
    even a generic plan (PostgreSQL, a prepared statement) reads the index in order and stops
    after ``limit`` rows; ordered by id alone, it scanned every waiting row (4 ms with 20,000
    waiting, bench/claim_scheduled.py)."""
    due = _c.scheduled_at <= at if scheduled else _c.scheduled_at.is_(None)
    return (
        sa.select(_c.id)
        .where(IS_QUEUED, due, sa.or_(_c.lease_owner.is_(None), _c.lease_expires_at < at))
        .order_by(_c.scheduled_at, _c.id)
        .limit(limit)
    )


def claim_sessions(
    conn: Connection, owner: str, limit: int, lease_seconds: float, at: float
) -> list[Row]:
    """Take up to ``limit`` claimable queued sessions under ``owner``'s lease.

    Claimable: queued, due (no ``scheduled_at``, or it has come) and either unclaimed or with
    a lapsed lease (its dialer died before dialing, so nothing was sent). Due scheduled
    sessions (a retry, a calling window) come first, earliest first, then the unscheduled
    ones, oldest (lowest id) first: two index range scans of ``(state, scheduled_at, id)``,
    however many sessions wait for a later time. Sessions with ``release_requested`` are
    claimed too: the dialer finishes them as released without dialing.
    """
    rows: list[Row] = []
    for scheduled in (True, False):
        if limit - len(rows) <= 0:
            break
        candidates = (
            claim_candidates(at, scheduled, limit - len(rows))
            .with_for_update(skip_locked=True)
            .cte("claimable")
        )
        rows += _rows(
            conn.execute(
                _returning(
                    call_sessions.update()
                    .where(_c.id == candidates.c.id)
                    .values(lease_owner=owner, lease_expires_at=at + lease_seconds)
                )
            )
        )
    return sorted(rows, key=lambda r: int(r["id"]))


@dataclass
class Claim:
    """What one claim pass took: sessions to dial, and sessions it settled at once."""

    to_dial: list[CallSession] = field(default_factory=list)
    settled: list[CallSession] = field(default_factory=list)  # finished (blacklisted, released)
    deferred: list[CallSession] = field(default_factory=list)  # window closed: wait for it


_DEFER = (
    call_sessions.update()
    .where(_c.id == _SID, _c.lease_owner == _OWNER, IS_QUEUED)
    .values(lease_owner=None, lease_expires_at=None, scheduled_at=_AT)
    .returning(*call_sessions.c)
)


def claim_for_dialing(
    conn: Connection, owner: str, limit: int, lease_seconds: float, at: float
) -> Claim:
    """``claim_sessions``, then settle in the same transaction what must not be dialled now.

    A contact blacklisted while its session was queued ends ``numa_in_black_list``; a session
    whose ``release.call`` arrived while another dialer held it ends ``released``; a session
    whose calling window is closed now goes back to the queue (lease cleared) with
    ``scheduled_at`` at the window's next opening.
    """
    claim = Claim()
    rows = claim_sessions(conn, owner, limit, lease_seconds, at)
    if not rows:
        return claim
    listed = blacklisted_sessions(conn, rows)
    for row in rows:
        if int(row["id"]) in listed:
            reason, detail = (
                FinishReason.NUMA_IN_BLACK_LIST,
                "contact blacklisted while the session was queued",
            )
        elif row["release_requested"]:
            reason, detail = FinishReason.RELEASED, "released before dialing"
        else:
            session = CallSession.from_row(row)
            window = session.options.calling_window if session.options else None
            opening = window_opening(window, at)
            if opening <= at:
                claim.to_dial.append(session)
            else:
                params = {"sid": session.id, "owner": owner, "at": opening}
                claim.deferred += _sessions(conn.execute(_DEFER, params))
            continue
        guard = sa.and_(call_sessions.c.id == row["id"], call_sessions.c.lease_owner == owner)
        finished = finish_where(conn, guard, at, reason, detail=detail)
        if finished is not None:
            claim.settled.append(finished)
    return claim


def lock_accounts(conn: Connection, account_ids: Iterable[int]) -> None:
    """Lock the rows ``begin_dialing`` locks, for several accounts at once, in id order.

    A group commit runs many ``begin_dialing`` in one transaction; taking their account rows
    one by one in the batch's order, two dialers with the same accounts in other orders wait
    for each other (a deadlock PostgreSQL breaks by failing one batch). Taken here first, in
    one global order, they cannot: a transaction that holds an account row waits only for
    rows of higher ids. SQLite (one writer at a time) needs no row lock.
    """
    ids = sorted(set(account_ids))
    if ids and conn.dialect.name == "postgresql":
        conn.execute(_LOCK_ACCOUNTS, {"account_ids": ids}).all()


def begin_dialing(
    conn: Connection, session_id: int, owner: str, lease_seconds: float, at: float | None = None
) -> BeginDialing:
    """queued → dialing, if still ours, not released, not blacklisted, and the account has room.

    Committed before the INVITE is sent: from here on the session is never dialled again.
    The account row is locked first (PostgreSQL) so the concurrent-call count and the
    transition are one step across all dialers (in a batch: ``lock_accounts`` first). ``at``
    defaults to the moment the transaction runs (not when the dialer queued it), so
    ``dial_at`` never precedes the end of the call whose slot it took.
    """
    at = now() if at is None else at
    row = conn.execute(_SESSION_CONTACT, {"sid": session_id}).first()
    if row is None:
        return BeginDialing(DialStart.GONE)
    account_id, contact, contact_kind = int(row[0]), str(row[1]), str(row[2])
    room = account_room(conn, account_id)
    mine = {"sid": session_id, "owner": owner}
    if is_blacklisted(conn, account_id, contact, contact_kind):
        finished = _run_finish(
            conn,
            _FINISH_MINE_QUEUED,
            mine,
            at,
            FinishReason.NUMA_IN_BLACK_LIST,
            detail="contact blacklisted while the session was queued",
        )
        if finished is None:
            return BeginDialing(DialStart.GONE)
        return BeginDialing(DialStart.BLACKLISTED, finished)
    if room.active >= room.cap:
        return BeginDialing(DialStart.ACCOUNT_FULL)
    started = _sessions(
        conn.execute(_START_DIALING, {**mine, "at": at, "lease_until": at + lease_seconds})
    )
    if not started:
        return BeginDialing(DialStart.GONE)
    room.active += 1
    record_event(conn, started[0], EventType.CALL_STARTED, at)
    return BeginDialing(DialStart.STARTED, started[0])


def mark_ringing(
    conn: Connection, session_id: int, owner: str, at: float, sip_call_id: str | None = None
) -> bool:
    """dialing → ringing (first 180/183)."""
    params = {"sid": session_id, "owner": owner, "at": at, "sip_call_id": sip_call_id or None}
    return conn.execute(_RINGING, params).rowcount > 0


def mark_answered(
    conn: Connection, session_id: int, owner: str, at: float, sip_call_id: str | None = None
) -> CallSession | None:
    """dialing/ringing → answered (200 OK), with its ``call_answered`` event."""
    params = {"sid": session_id, "owner": owner, "at": at, "sip_call_id": sip_call_id or None}
    answered = _sessions(conn.execute(_ANSWERED, params))
    if not answered:
        return None
    record_event(conn, answered[0], EventType.CALL_ANSWERED, at)
    return answered[0]


def finish_session(
    conn: Connection,
    session_id: int,
    owner: str,
    at: float,
    reason: FinishReason,
    *,
    detail: str | None = None,
    **attempt: Any,
) -> CallSession | None:
    """Any non-final state → finished, once, with its ``call_finished`` event.

    ``owner`` guards the write: only the lease holder may finish. ``attempt``: the outcome
    of the attempt that ends the session, any of ``ATTEMPT_END_FIELDS`` (None or left out:
    the stored value stays): ``trunk`` and ``attempts`` (``{"trunk", "sip_code",
    "sip_reason"}`` per INVITE) record the trunks the call tried; ``attempt_log`` the whole
    list of ended attempts; ``dtmf_reply``, ``answered_by``, ``speech_reply``,
    ``speech_intent`` what the call heard.
    Returns the finished session, or None when it was already final or not ours.
    """
    return _run_finish(
        conn, _FINISH_OWNED, {"sid": session_id, "owner": owner}, at, reason, detail=detail,
        **attempt,
    )  # fmt: skip


class ReleaseOutcome(StrEnum):
    """What ``release_session`` did."""

    RELEASED = "released"  # it was queued: finished now, reason released
    REQUESTED = "release_requested"  # a call in progress: flagged, its dialer hangs up
    FINISHED = "finished"  # already final: nothing changed
    NOT_FOUND = "not_found"  # no such session (of this account)


@dataclass(frozen=True)
class Release:
    outcome: ReleaseOutcome
    session: Row | None = None  # the row after the change (None: not found)


def release_session(
    conn: Connection, session_id: int, at: float, account_id: int | None = None
) -> Release:
    """The one release rule (``release.call`` and ``vestnik admin session release``).

    A queued session is finished ``released`` at once, with its ``call_finished`` event,
    whichever dialer holds its lease: that dialer's ``begin_dialing`` then finds it gone. A
    session in a call state is flagged ``release_requested``; the dialer holding it cancels
    or hangs up and finishes it ``released``. ``account_id`` limits the search to one
    account (the API's caller); None is any account (the operator).
    """
    which = _c.id == session_id
    if account_id is not None:
        which = sa.and_(which, _c.account_id == account_id)
    finished = finish_where(
        conn, sa.and_(which, IS_QUEUED), at, FinishReason.RELEASED, detail="released before dialing"
    )
    if finished is not None:
        return Release(ReleaseOutcome.RELEASED, asdict(finished))
    flagged = _rows(
        conn.execute(
            _returning(
                call_sessions.update()
                .where(which, _c.state.in_(CALL_STATES))
                .values(release_requested=True)
            )
        )
    )
    if flagged:
        return Release(ReleaseOutcome.REQUESTED, flagged[0])
    row = conn.execute(sa.select(call_sessions).where(which)).mappings().first()
    if row is None:
        return Release(ReleaseOutcome.NOT_FOUND)
    return Release(ReleaseOutcome.FINISHED, dict(row))


def unfinished_session_ids(conn: Connection, account_id: int) -> list[int]:
    """The account's sessions that are queued or in a call, oldest first."""
    result = conn.execute(
        sa.select(_c.id).where(_c.account_id == account_id, NOT_FINISHED).order_by(_c.id)
    )
    return [int(r[0]) for r in result]


def finish_where(
    conn: Connection,
    guard: ColumnElement[bool],
    at: float,
    reason: FinishReason,
    *,
    detail: str | None = None,
) -> CallSession | None:
    """The finish rule under an ad-hoc guard (recovery, claim, release): not the hot path."""
    return _run_finish(conn, _finish_statement(guard), {}, at, reason, detail=detail)


def attempt_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The bound values of ``ATTEMPT_END_VALUES``: every field, None where not given, the
    strings cut to their columns."""
    values: dict[str, Any] = dict.fromkeys(ATTEMPT_END_FIELDS) | fields
    for name in ("sip_reason", "sip_call_id", "trunk"):
        if values[name] is not None:
            values[name] = str(values[name])[:255]
    return values


def _run_finish(
    conn: Connection,
    statement: sa.Update,
    params: dict[str, Any],
    at: float,
    reason: FinishReason,
    *,
    detail: str | None = None,
    **attempt: Any,
) -> CallSession | None:
    values = {**params, "at": at, "reason": reason.value, "detail": detail}
    finished = _sessions(conn.execute(statement, values | attempt_values(attempt)))
    for session in finished:
        forget_room(conn, session.account_id)  # it may have been a call of the account
        record_event(conn, session, EventType.CALL_FINISHED, at)
    return finished[0] if finished else None


def list_sessions(conn: Connection, filters: dict[str, Any], limit: int) -> list[Row]:
    """The newest sessions first; ``filters`` maps column names to the value they must have
    (None: any)."""
    query = sa.select(call_sessions).order_by(_c.id.desc()).limit(limit)
    for name, value in filters.items():
        if value is not None:
            query = query.where(call_sessions.c[name] == value)
    return _rows(conn.execute(query))


def get_session(conn: Connection, session_id: int) -> Row | None:
    row = (
        conn.execute(sa.select(call_sessions).where(call_sessions.c.id == session_id))
        .mappings()
        .first()
    )
    return dict(row) if row else None
