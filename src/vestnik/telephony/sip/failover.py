"""The failover rules of a call's route, and what the call records of each trunk it tried.

A call tries its route's trunks in order while ``dialing_timeout`` lasts (docs/telephony.md,
"Trunks"). The next trunk is tried after a transport error, no response (sippy's timer B, or
``NO_RESPONSE_SECONDS`` without any response, whichever comes first) or one of
``FAILOVER_CODES``, as long as the trunk has not rung (180-183); any other final response,
ringing or an answer ends the failover. A failed INVITE never takes a trunk out of rotation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from vestnik.calls import FinishReason
from vestnik.calls.ports import CallResult, TrunkAttempt
from vestnik.config import TrunkConfig

# Final responses after which the next trunk is tried.
FAILOVER_CODES = frozenset({408, 500, 502, 503, 504})
# Seconds without any response to an INVITE (not even 100 Trying) before the next trunk.
NO_RESPONSE_SECONDS = 8.0


def fails_over(code: int | None, from_network: bool, rang: bool) -> bool:
    """Whether a final outcome of one INVITE sends the call to the next trunk: ``code`` None is
    a transport error, ``from_network`` False sippy's own timer B."""
    if rang:
        return False
    return code is None or not from_network or code in FAILOVER_CODES


def trunk_refusal(code: int, phrase: str, sent_credentials: bool, trunk: TrunkConfig) -> str:
    """``finish_detail`` for a final response to our INVITE, in plain words."""
    answered = f"trunk answered {code} {phrase}".rstrip()
    if code in (401, 407):
        if sent_credentials:
            return f"authentication failed after credentials were sent ({answered})"
        if not trunk.username:
            setting = "[trunk]" if trunk.name == "trunk" else f"trunk {trunk.name!r}"
            return f"{answered}: it demands authentication and {setting} username is not set"
        return f"{answered}: its challenge names no digest algorithm we can answer"
    if sent_credentials:
        return f"{answered} after credentials were sent"
    return answered


@dataclass
class RouteLog:
    """Every trunk of the route a call tried (``attempts``) or passed over, in order."""

    attempts: list[TrunkAttempt] = field(default_factory=list)
    # One line per trunk, "name: what happened", skipped ones included.
    lines: list[str] = field(default_factory=list)
    skipped_for_limits = 0
    skipped = 0

    def skip(self, trunk: str, why: str, limits: bool = False) -> None:
        self.lines.append(f"{trunk}: skipped ({why})")
        self.skipped += 1
        self.skipped_for_limits += int(limits)

    def tried(self, trunk: str, code: int | None, phrase: str | None, note: str) -> None:
        """One INVITE ended: its final response (None: none) and, without one, what happened."""
        self.attempts.append(TrunkAttempt(trunk, code, phrase if code is not None else None))
        self.lines.append(f"{trunk}: {f'{code} {phrase}'.rstrip() if code is not None else note}")

    def nothing_tried(self) -> CallResult:
        """No trunk of the route took an INVITE (all down, unregistered or at their limits)."""
        reason = FinishReason.NO_SUCCESS_SUBSCRIBER_CALL
        if self.skipped and self.skipped == self.skipped_for_limits:
            reason = FinishReason.MAX_OUT_CALL_REACHED
        lines = "; ".join(self.lines) or "the route is empty"
        return CallResult(reason, detail=f"no trunk could take the call ({lines})")

    def recorded(self, result: CallResult) -> CallResult:
        """``result`` with the trunk, the attempts and, when more than one trunk was tried or
        passed over, a ``finish_detail`` listing each of them."""
        trunk = self.attempts[-1].trunk if self.attempts else None
        detail = result.detail
        if len(self.attempts) > 1 or (self.attempts and self.skipped):
            detail = "; ".join(self.lines)
        return replace(result, trunk=trunk, attempts=tuple(self.attempts), detail=detail)
