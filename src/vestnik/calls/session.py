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
        )
