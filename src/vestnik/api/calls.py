"""``release.call`` and ``list.calls``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.params import Kind, Param, id_in_range
from vestnik.calls import ACTIVE_STATES, CallState, Direction, FinishReason
from vestnik.calls.numbers import normalize_e164
from vestnik.events import EventType, iso, record_event
from vestnik.store.schema import call_sessions

_ACTIVE = sorted(s.value for s in ACTIVE_STATES)
_IN_CALL = sorted(s.value for s in ACTIVE_STATES - {CallState.QUEUED})


def release_call(call: MethodCall, conn: Connection) -> dict[str, Any]:
    """Queued: finished now (``released``) with a call_finished event. Dialing, ringing or
    answered: flag ``release_requested``; the dialer cancels or hangs up. Finished: invalid_state.
    """
    raw = call.params["call_session_id"]
    session_id = int(raw)
    c = call_sessions.c
    mine = sa.and_(c.id == session_id, c.account_id == call.principal.account_id)
    if not id_in_range(session_id):
        raise ApiError("call_session_not_found", field="call_session_id", value=raw)
    finished = conn.execute(
        call_sessions.update()
        .where(mine, c.state == CallState.QUEUED.value)
        .values(
            state=CallState.FINISHED.value,
            finish_reason=FinishReason.RELEASED.value,
            end_at=call.at,
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(*call_sessions.c)
    ).first()
    if finished is not None:
        record_event(conn, finished._mapping, EventType.CALL_FINISHED, call.at)
        return {"success": True}
    flagged = conn.execute(
        call_sessions.update()
        .where(mine, c.state.in_(_IN_CALL))
        .values(release_requested=True)
        .returning(c.id)
    ).first()
    if flagged is not None:
        return {"success": True}
    exists = conn.execute(sa.select(c.state).where(mine)).first()
    if exists is None:
        raise ApiError("call_session_not_found", field="call_session_id", value=raw)
    raise ApiError("invalid_state", field="call_session_id", value=raw)


def list_calls(call: MethodCall, conn: Connection) -> list[dict[str, Any]]:
    """The account's active sessions, oldest first, in the vendor's shape (one leg each)."""
    p = call.params
    c = call_sessions.c
    query = sa.select(
        c.id, c.direction, c.created_at, c.dial_at, c.answer_at, c.caller_number, c.contact,
        c.external_id, c.state,
    ).where(c.account_id == call.principal.account_id, c.state.in_(_ACTIVE))  # fmt: skip
    direction = p.get("direction")
    if direction is not None:
        if direction not in Direction.__members__.values():
            raise ApiError("invalid_parameter_value", field="direction", value=direction)
        query = query.where(c.direction == direction)
    number_raw = p.get("virtual_phone_number")
    if number_raw is not None:
        number = normalize_e164(number_raw)
        if number is None:
            raise ApiError(
                "invalid_parameter_value", field="virtual_phone_number", value=number_raw
            )
        query = query.where(c.caller_number == number)
    return [
        {
            "call_session_id": row.id,
            "direction": row.direction,
            "start_time": iso(row.created_at),
            "virtual_phone_number": row.caller_number,
            "contact_phone_number": row.contact,
            "external_id": row.external_id,
            "legs": [
                {
                    "leg_id": row.id,
                    "direction": "out",
                    "calling_phone_number": row.caller_number,
                    "called_phone_number": row.contact,
                    "state": row.state,
                    "start_time": iso(row.dial_at),
                    "answer_time": iso(row.answer_at),
                }
            ],
        }
        for row in conn.execute(query.order_by(c.id))
    ]


RELEASE_CALL = MethodSpec(
    params=(
        Param("access_token", Kind.STRING, True),
        Param("call_session_id", Kind.INTEGER, True),
    ),
    handler=release_call,
)
LIST_CALLS = MethodSpec(
    params=(
        Param("access_token", Kind.STRING, True),
        Param("direction", Kind.STRING),
        Param("virtual_phone_number", Kind.STRING),
    ),
    handler=list_calls,
)
