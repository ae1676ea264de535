"""``release.call`` and ``list.calls``."""

from __future__ import annotations

from typing import Any

from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.params import Kind, Param, id_in_range
from vestnik.calls import Direction
from vestnik.calls.events import iso
from vestnik.calls.legs import LEG_STATE
from vestnik.calls.numbers import normalize_e164
from vestnik.store.db import Connection
from vestnik.store.reports.active import active_sessions
from vestnik.store.sessions import ReleaseOutcome, release_session


def release_call(call: MethodCall, conn: Connection) -> dict[str, Any]:
    """The release rule of ``store.sessions.release_session``, on the caller's own sessions:
    queued → finished ``released``; in a call → flagged for the dialer; finished → invalid_state.
    """
    raw = call.params["call_session_id"]
    session_id = int(raw)
    if not id_in_range(session_id):
        raise ApiError("call_session_not_found", field="call_session_id", value=raw)
    release = release_session(conn, session_id, call.at, call.principal.account_id)
    if release.outcome is ReleaseOutcome.NOT_FOUND:
        raise ApiError("call_session_not_found", field="call_session_id", value=raw)
    if release.outcome is ReleaseOutcome.FINISHED:
        raise ApiError("invalid_state", field="call_session_id", value=raw)
    return {"success": True}


def list_calls(call: MethodCall, conn: Connection) -> list[dict[str, Any]]:
    """The account's active sessions, oldest first, in the vendor's shape (one leg each)."""
    p = call.params
    direction = p.get("direction")
    if direction is not None and direction not in Direction.__members__.values():
        raise ApiError("invalid_parameter_value", field="direction", value=direction)
    number_raw = p.get("virtual_phone_number")
    number = None if number_raw is None else normalize_e164(number_raw)
    if number_raw is not None and number is None:
        raise ApiError("invalid_parameter_value", field="virtual_phone_number", value=number_raw)
    rows = active_sessions(conn, call.principal.account_id, direction, number)
    return [
        {
            "call_session_id": row["id"],
            "direction": row["direction"],
            "start_time": iso(row["created_at"]),
            "virtual_phone_number": row["caller_number"],
            "contact_phone_number": row["contact"],
            "external_id": row["external_id"],
            "tags": [],
            "legs": [
                {
                    "leg_id": row["id"],
                    "calling_phone_number": row["caller_number"],
                    "called_phone_number": row["contact"],
                    "is_operator": False,
                    "employee_id": None,
                    "employee_full_name": None,
                    "record_call_enabled": bool((row["options"] or {}).get("record")),
                    "state": LEG_STATE[row["state"]],
                    # Ours: the leg's direction and times.
                    "direction": "out",
                    "start_time": iso(row["dial_at"]),
                    "answer_time": iso(row["answer_at"]),
                }
            ],
            # Ours: a waiting session's next attempt (null: dialled as soon as possible) and
            # the attempts begun so far.
            "scheduled_at": iso(row["scheduled_at"]),
            "attempts": row["attempt_count"],
        }
        for row in rows
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
