"""A session's call leg in the vendor's vocabulary (``get.call_legs_report``).

An informer call has one leg: the INVITE towards the contact. Its ``finish_reason`` comes from
the vendor's leg list, which lacks the session-only words (``success_finish``,
``no_success_subscriber_call``, ...), and its release cause is the ITU-T Q.850 cause that
RFC 3398 (section 8.2.6.1) gives for the SIP final response.
"""

from __future__ import annotations

from vestnik.calls.model import CallState, FinishReason

# list.calls: a leg's state in the vendor's words (uis-data-api-facts.md, section 9).
LEG_STATE: dict[str, str] = {
    CallState.QUEUED.value: "На очереди",  # waiting for a dialer: no INVITE yet
    CallState.DIALING.value: "Дозвон",
    CallState.RINGING.value: "Дозвон",
    CallState.ANSWERED.value: "Разговор",  # the message (and DTMF) is being played
    CallState.FINISHED.value: "Разъединено",
}

# Session finish_reason → leg finish_reason; the rest are the same word in both lists.
LEG_FINISH_REASON: dict[str, str] = {
    # vestnik played the message and hung up: the call's logic ended the leg.
    FinishReason.SUCCESS_FINISH.value: "scenario_disconnects",
    # release.call (ours): the API ended the leg.
    FinishReason.RELEASED.value: "scenario_disconnects",
}
# no_success_subscriber_call (other 4xx/5xx/6xx, transport failure) is not a leg word:
# a 4xx/6xx says the number was refused, a 5xx or no response that the network failed.
LEG_REFUSED = "subscriber_number_problems"
LEG_NETWORK_FAILED = "no_resources"

NORMAL_CLEARING = 16  # answered, then either side hung up
NO_ANSWER = 19  # alerted, no answer before dialing_timeout (we sent CANCEL)
TEMPORARY_FAILURE = 41  # no final response at all (transport failure, timer B)

# RFC 3398, 8.2.6.1: SIP final response → Q.850 cause.
Q850_BY_SIP_CODE: dict[int, int] = {
    400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102,
    410: 22, 413: 127, 414: 127, 415: 79, 416: 127, 420: 127, 421: 127, 423: 127, 480: 18,
    481: 41, 482: 25, 483: 25, 484: 28, 485: 1, 486: 17, 487: 127, 488: 127, 500: 41,
    501: 79, 502: 38, 503: 41, 504: 102, 505: 127, 513: 127, 600: 17, 603: 21, 604: 1,
    606: 58,
}  # fmt: skip

# ITU-T Q.850 names of the causes above.
Q850_DESCRIPTION: dict[int, str] = {
    1: "Unallocated (unassigned) number",
    16: "Normal call clearing",
    17: "User busy",
    18: "No user responding",
    19: "No answer from user (user alerted)",
    21: "Call rejected",
    22: "Number changed",
    25: "Exchange routing error",
    28: "Invalid number format (address incomplete)",
    38: "Network out of order",
    41: "Temporary failure",
    58: "Bearer capability not presently available",
    63: "Service or option not available, unspecified",
    79: "Service or option not implemented, unspecified",
    102: "Recovery on timer expiry",
    127: "Interworking, unspecified",
}
