"""How a SIP final response maps to a finish_reason (design.md, "Outcomes")."""

from __future__ import annotations

from vestnik.calls.model import FinishReason

_BY_CODE: dict[int, FinishReason] = {
    486: FinishReason.SUBSCRIBER_BUSY,
    600: FinishReason.SUBSCRIBER_BUSY,
    480: FinishReason.SUBSCRIBER_NOT_RESPONSIBLE,
    408: FinishReason.SUBSCRIBER_NOT_RESPONSIBLE,
    404: FinishReason.SUBSCRIBER_NUMBER_PROBLEMS,
    484: FinishReason.SUBSCRIBER_NUMBER_PROBLEMS,
    604: FinishReason.SUBSCRIBER_NUMBER_PROBLEMS,
}


def finish_reason_for_sip_code(code: int) -> FinishReason:
    """Finish reason for a final failure response (>= 300) to the INVITE."""
    return _BY_CODE.get(code, FinishReason.NO_SUCCESS_SUBSCRIBER_CALL)
