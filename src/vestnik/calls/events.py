"""Call events: their types and the notification payload (the vendor's variable names).

The outbox (``vestnik.store.outbox``) records an event with its payload in the same transaction
as the session's change; webhook delivery (``vestnik.events``) sends it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from vestnik.calls.session import CallSession

# The vendor's ``call_source`` of a session made by start.informer_call (stored per session).
CALL_SOURCE = "callapi_informer_call"


class EventType(StrEnum):
    CALL_STARTED = "call_started"  # dialing began
    CALL_ANSWERED = "call_answered"
    CALL_FINISHED = "call_finished"
    # Ours: an attempt ended and the session will be dialled again (retry).
    ATTEMPT_FAILED = "attempt_failed"


def iso(ts: float | None) -> str | None:
    """UNIX seconds → ISO 8601 with offset (vendor date-time format), None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _span(start: float | None, end: float | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, round(end - start))


def notification_payload(session: CallSession, event_type: EventType, at: float) -> dict[str, Any]:
    """The body variables of one notification, from the session as it is after the change.

    Durations are whole seconds: wait = dial start to answer (or end), talk = answer to end,
    total = dial start to end. The request's JSON-RPC id is deliberately not included (the
    vendor does not pass it either). ``event_id`` is added at delivery from the outbox row.
    """
    start = session.dial_at or session.created_at
    answer = session.answer_at
    end = session.end_at
    finish_reason = session.finish_reason
    return {
        "notification_mnemonic": event_type.value,
        "notification_time": iso(at),
        "call_session_id": session.id,
        "external_id": session.external_id,
        "call_source": CALL_SOURCE,
        "direction": session.direction.value,
        "virtual_phone_number": session.caller_number,
        "contact_phone_number": session.contact,
        "start_time": iso(start),
        "wait_time_duration": _span(start, answer if answer is not None else end),
        "talk_time_duration": _span(answer, end),
        "total_time_duration": _span(start, end),
        "finish_reason": None if finish_reason is None else finish_reason.value,
        "sip_code": session.sip_code,
        "sip_reason": session.sip_reason,
        # Ours: the trunk that carried the call (the last one tried); null before the end.
        "trunk": session.trunk,
        # Ours (docs/events.md): the reply keys (null: not asked), attempts begun, the attempt
        # this event is about, who answered (null: not asked).
        "dtmf_reply": session.dtmf_reply,
        "attempts": session.attempt_count,
        "attempt": session.attempt_count,
        "answered_by": None if session.answered_by is None else session.answered_by.value,
        # Ours: the spoken reply (null: collect_speech not asked; "": nothing recognised) and
        # the intent it matched (null: none).
        "speech_reply": session.speech_reply,
        "speech_intent": session.speech_intent,
    }


# Every variable a notification carries; a body template may use any of them.
TEMPLATE_VARIABLES: tuple[str, ...] = (
    "event_id",
    "notification_mnemonic",
    "notification_time",
    "call_session_id",
    "external_id",
    "call_source",
    "direction",
    "virtual_phone_number",
    "contact_phone_number",
    "start_time",
    "wait_time_duration",
    "talk_time_duration",
    "total_time_duration",
    "finish_reason",
    "sip_code",
    "sip_reason",
    "trunk",
    "dtmf_reply",
    "attempts",
    "attempt",
    "answered_by",
    "speech_reply",
    "speech_intent",
)
