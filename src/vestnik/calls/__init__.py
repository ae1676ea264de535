"""The call-session domain: states, finish reasons, outcome rules. Knows no HTTP, SQL or SIP."""

from vestnik.calls.model import (
    ACTIVE_STATES,
    FINAL_STATES,
    CallState,
    ContactKind,
    Direction,
    FinishReason,
    MessageType,
    UsageRule,
)
from vestnik.calls.outcome import finish_reason_for_sip_code

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "CallState",
    "ContactKind",
    "Direction",
    "FinishReason",
    "MessageType",
    "UsageRule",
    "finish_reason_for_sip_code",
]
