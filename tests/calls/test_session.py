"""CallSession: a call_sessions row with typed fields, and the notification built from it."""

from __future__ import annotations

from typing import Any

import pytest

from vestnik.calls import CallState, ContactKind, Direction, FinishReason, MessageType, UsageRule
from vestnik.calls.events import EventType, notification_payload
from vestnik.calls.session import CallSession

T0 = 1_767_000_000.0  # 2025-12-29T09:20:00Z


def stored_row(**values: Any) -> dict[str, Any]:
    """Every column of a finished session, as the database returns them."""
    row: dict[str, Any] = {
        "id": 42, "account_id": 7, "access_token_id": 3, "source": "callapi_informer_call",
        "request_id": '"req-1"', "external_id": "order-42", "virtual_phone_number": "74993720692",
        "usage_rule": "fixed", "caller_number": "74993720692", "contact": "79260000001",
        "contact_kind": "phone", "contact_region": "Москва", "direction": "out",
        "dtmf_string": "1.2", "dialing_timeout": 30.0, "message_type": "tts",
        "message_value": "Здравствуйте", "media_file_id": None, "state": "finished",
        "finish_reason": "subscriber_disconnects", "finish_detail": "callee BYE",
        "sip_code": 200, "sip_reason": "OK", "sip_call_id": "abc@host", "created_at": T0,
        "dial_at": T0 + 1.0, "ring_at": T0 + 1.5, "answer_at": T0 + 4.2, "end_at": T0 + 10.0,
        "release_requested": False, "lease_owner": None, "lease_expires_at": None,
        "dial_attempts": 1, "trunk": "carrier-b",
        "attempts": [
            {"trunk": "carrier-a", "sip_code": 503, "sip_reason": "Service Unavailable"},
            {"trunk": "carrier-b", "sip_code": 200, "sip_reason": "OK"},
        ],
        "options": None, "scheduled_at": None, "attempt_count": 1, "attempt_log": None,
        "dtmf_reply": None, "answered_by": None, "speech_reply": None, "speech_intent": None,
    }  # fmt: skip
    row.update(values)
    return row


def test_from_row_types_every_coded_column() -> None:
    session = CallSession.from_row(stored_row())
    assert session.state is CallState.FINISHED
    assert session.finish_reason is FinishReason.SUBSCRIBER_DISCONNECTS
    assert session.contact_kind is ContactKind.PHONE
    assert session.direction is Direction.OUT
    assert session.message_type is MessageType.TTS
    assert session.usage_rule is UsageRule.FIXED
    assert (session.id, session.account_id, session.dial_at) == (42, 7, T0 + 1.0)
    assert session.trunk == "carrier-b"
    assert [a["sip_code"] for a in session.attempts] == [503, 200]
    queued = CallSession.from_row(stored_row(state="queued", finish_reason=None))
    assert queued.state is CallState.QUEUED and queued.finish_reason is None


def test_from_row_refuses_a_row_without_every_column() -> None:
    row = stored_row()
    del row["lease_owner"]
    with pytest.raises(KeyError):
        CallSession.from_row(row)


def test_notification_payload_of_a_session_has_plain_values() -> None:
    session = CallSession.from_row(stored_row())
    payload = notification_payload(session, EventType.CALL_FINISHED, T0 + 11.0)
    assert payload == {
        "notification_mnemonic": "call_finished",
        "notification_time": "2025-12-29T09:20:11.000+00:00",
        "call_session_id": 42,
        "external_id": "order-42",
        "call_source": "callapi_informer_call",
        "direction": "out",
        "virtual_phone_number": "74993720692",
        "contact_phone_number": "79260000001",
        "start_time": "2025-12-29T09:20:01.000+00:00",
        "wait_time_duration": 3,
        "talk_time_duration": 6,
        "total_time_duration": 9,
        "finish_reason": "subscriber_disconnects",
        "sip_code": 200,
        "sip_reason": "OK",
        "trunk": "carrier-b",
        "dtmf_reply": None,
        "attempts": 1,
        "attempt": 1,
        "answered_by": None,
        "speech_reply": None,
        "speech_intent": None,
    }
    # Plain strings, not enum members: the payload is stored as JSON and templated as text.
    assert type(payload["direction"]) is str and type(payload["finish_reason"]) is str


def test_notification_payload_before_dialing_starts_at_creation() -> None:
    queued = CallSession.from_row(
        stored_row(
            state="queued", finish_reason=None, dial_at=None, ring_at=None, answer_at=None,
            end_at=None, sip_code=None, sip_reason=None, trunk=None, attempts=None,
        )
    )  # fmt: skip
    payload = notification_payload(queued, EventType.CALL_STARTED, T0)
    assert payload["start_time"] == "2025-12-29T09:20:00.000+00:00"
    assert payload["finish_reason"] is None and payload["trunk"] is None
    assert payload["wait_time_duration"] == payload["total_time_duration"] == 0


def test_a_spoken_reply_reaches_the_session_and_its_events() -> None:
    session = CallSession.from_row(stored_row(speech_reply="да, подтверждаю", speech_intent="yes"))
    assert (session.speech_reply, session.speech_intent) == ("да, подтверждаю", "yes")
    payload = notification_payload(session, EventType.CALL_FINISHED, T0 + 11.0)
    assert (payload["speech_reply"], payload["speech_intent"]) == ("да, подтверждаю", "yes")
    silent = CallSession.from_row(stored_row(speech_reply=""))
    payload = notification_payload(silent, EventType.CALL_FINISHED, T0 + 11.0)
    assert (payload["speech_reply"], payload["speech_intent"]) == ("", None)
