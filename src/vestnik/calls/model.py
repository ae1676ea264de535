"""Value types of a call session."""

from __future__ import annotations

from enum import StrEnum


class CallState(StrEnum):
    """Life of a session: queued → dialing → ringing → answered → finished."""

    QUEUED = "queued"
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    FINISHED = "finished"


ACTIVE_STATES: frozenset[CallState] = frozenset(
    {CallState.QUEUED, CallState.DIALING, CallState.RINGING, CallState.ANSWERED}
)
FINAL_STATES: frozenset[CallState] = frozenset({CallState.FINISHED})


class FinishReason(StrEnum):
    """The vendor's vocabulary for why a session ended (``get.calls_report.finish_reason``)."""

    SUCCESS_FINISH = "success_finish"
    SUBSCRIBER_DISCONNECTS = "subscriber_disconnects"
    SUBSCRIBER_BUSY = "subscriber_busy"
    SUBSCRIBER_NOT_RESPONSIBLE = "subscriber_not_responsible"
    TIMEOUT = "timeout"
    SUBSCRIBER_NUMBER_PROBLEMS = "subscriber_number_problems"
    NO_SUCCESS_SUBSCRIBER_CALL = "no_success_subscriber_call"
    NUMA_IN_BLACK_LIST = "numa_in_black_list"
    MAX_OUT_CALL_REACHED = "max_out_call_reached"
    OUT_CALL_NOT_ALLOWED = "out_call_not_allowed"
    INTERNAL_ERROR = "internal_error"
    # Ours: ended by release.call. The vendor has no word for it; reports show it as is.
    RELEASED = "released"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class MessageType(StrEnum):
    TTS = "tts"
    MEDIA = "media"


class ContactKind(StrEnum):
    PHONE = "phone"  # E.164 number, dialled through the trunk
    SIP = "sip"  # an employee's SIP URI


class UsageRule(StrEnum):
    FIXED = "fixed"
    FIXED_FOR_NUMA = "fixed_for_numa"
    RANDOM = "random"
    REGIONAL_RANDOM = "regional_random"
    REGIONAL_FIXED_FOR_NUMA = "regional_fixed_for_numa"
