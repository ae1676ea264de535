"""A call session as the domain sees it: one ``call_sessions`` row with typed fields.

The store returns it from the transitions the dialer makes (claim, begin dialing, answer,
finish), the dialer works from it, and the event payload is built from it. Times are
wall-clock UNIX seconds, as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vestnik.calls.model import (
    CallState,
    ContactKind,
    Direction,
    FinishReason,
    MessageType,
    UsageRule,
)
from vestnik.calls.options import AnsweredBy, CallOptions


@dataclass(frozen=True, slots=True)
class CallSession:
    id: int
    account_id: int
    access_token_id: int | None
    source: str  # the vendor's call_source
    request_id: str | None  # the JSON-RPC id, JSON-encoded
    external_id: str | None
    virtual_phone_number: str  # as requested
    usage_rule: UsageRule
    caller_number: str  # the number actually used
    contact: str  # E.164 digits, or a SIP URI when contact_kind is SIP
    contact_kind: ContactKind
    contact_region: str | None
    direction: Direction
    dtmf_string: str | None
    dialing_timeout: float  # seconds
    message_type: MessageType
    message_value: str  # TTS text, or the media file's name as requested
    media_file_id: int | None
    state: CallState
    finish_reason: FinishReason | None
    finish_detail: str | None
    sip_code: int | None
    sip_reason: str | None
    sip_call_id: str | None
    created_at: float
    dial_at: float | None
    ring_at: float | None
    answer_at: float | None
    end_at: float | None
    release_requested: bool
    lease_owner: str | None  # the dialer run that holds the session
    lease_expires_at: float | None
    dial_attempts: int
    trunk: str | None = None  # the trunk that carried the call (the last one tried)
    # Every INVITE: {"trunk", "sip_code", "sip_reason"}, in order (empty until finished).
    attempts: tuple[dict[str, Any], ...] = ()
    # vestnik's options (collect_dtmf, collect_speech, retry, calling_window, detect_machine,
    # record); None: none, the vendor's plain informer call.
    options: CallOptions | None = None
    scheduled_at: float | None = None  # queued: not dialled before this (window, retry)
    attempt_count: int = 0  # attempts begun (each INVITE round of a retry is one attempt)
    # Every ended attempt, in order: {"attempt", "dial_at", "end_at", "trunk", "sip_code",
    # "sip_reason", "finish_reason", "answered_by"}; empty until the first attempt ends.
    attempt_log: tuple[dict[str, Any], ...] = ()
    dtmf_reply: str | None = None  # None: collect_dtmf not asked; "": nothing pressed
    answered_by: AnsweredBy | None = None  # None: detect_machine not asked
    speech_reply: str | None = None  # None: collect_speech not asked; "": nothing recognised
    speech_intent: str | None = None  # the intent the reply matched; None: none (or not asked)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> CallSession:
        """From a ``call_sessions`` row: every column, by name (a database row mapping's keys
        are typed wider than ``str``)."""
        finish_reason = row["finish_reason"]
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            access_token_id=row["access_token_id"],
            source=row["source"],
            request_id=row["request_id"],
            external_id=row["external_id"],
            virtual_phone_number=row["virtual_phone_number"],
            usage_rule=UsageRule(row["usage_rule"]),
            caller_number=row["caller_number"],
            contact=row["contact"],
            contact_kind=ContactKind(row["contact_kind"]),
            contact_region=row["contact_region"],
            direction=Direction(row["direction"]),
            dtmf_string=row["dtmf_string"],
            dialing_timeout=row["dialing_timeout"],
            message_type=MessageType(row["message_type"]),
            message_value=row["message_value"],
            media_file_id=row["media_file_id"],
            state=CallState(row["state"]),
            finish_reason=None if finish_reason is None else FinishReason(finish_reason),
            finish_detail=row["finish_detail"],
            sip_code=row["sip_code"],
            sip_reason=row["sip_reason"],
            sip_call_id=row["sip_call_id"],
            created_at=row["created_at"],
            dial_at=row["dial_at"],
            ring_at=row["ring_at"],
            answer_at=row["answer_at"],
            end_at=row["end_at"],
            release_requested=row["release_requested"],
            lease_owner=row["lease_owner"],
            lease_expires_at=row["lease_expires_at"],
            dial_attempts=row["dial_attempts"],
            trunk=row["trunk"],
            attempts=tuple(row["attempts"] or ()),
            options=CallOptions.from_json(row["options"]),
            scheduled_at=row["scheduled_at"],
            attempt_count=row["attempt_count"],
            attempt_log=tuple(row["attempt_log"] or ()),
            dtmf_reply=row["dtmf_reply"],
            answered_by=None if row["answered_by"] is None else AnsweredBy(row["answered_by"]),
            speech_reply=row["speech_reply"],
            speech_intent=row["speech_intent"],
        )
