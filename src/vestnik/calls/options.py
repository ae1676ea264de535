"""vestnik's own options of a call session (beyond the vendor's ``start.informer_call``).

``collect_dtmf`` (a reply by key presses), ``collect_speech`` (a spoken reply), ``retry``
(more attempts on chosen outcomes), ``calling_window`` (hours in the contact's time zone),
``detect_machine`` (human or answering machine) and ``record`` (the callee's audio, and
ours, stored). A session stores the options it runs with (``call_sessions.options``): the
request's, or else the account's policy (``accounts.call_policy``) as it stood when the
session was accepted. Pure values: the API checks what a client sent
(``vestnik.api.methods.informer``) and builds these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vestnik.calls.model import FinishReason

# The ranges the API accepts (docs/api.md, "vestnik's extensions").
MAX_DIGITS_RANGE = (1, 32)
COLLECT_TIMEOUT_RANGE = (1, 60)  # seconds
SPEECH_TIMEOUT_RANGE = (1, 30)  # seconds
SPEECH_LANGUAGES = ("ru",)  # measured (docs/benchmarks.md); Whisper knows more
RETRY_ATTEMPTS_RANGE = (1, 10)  # attempts in all, the first included
RETRY_INTERVAL_RANGE = (10, 86400)  # seconds
DTMF_KEYS = "0123456789*#"
CONTACT_ZONE = "contact"  # calling_window.timezone: the contact's own zone

# The outcomes a retry may name: an attempt that ended so may be repeated. The others
# (success, release, blacklist, the account's own rules) would end the same way again.
RETRYABLE: frozenset[FinishReason] = frozenset(
    {
        FinishReason.SUBSCRIBER_BUSY,
        FinishReason.SUBSCRIBER_NOT_RESPONSIBLE,
        FinishReason.TIMEOUT,
        FinishReason.SUBSCRIBER_DISCONNECTS,
        FinishReason.SUBSCRIBER_NUMBER_PROBLEMS,
        FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
        FinishReason.MAX_OUT_CALL_REACHED,
        FinishReason.INTERNAL_ERROR,
    }
)
# ``retry.on`` when a client leaves it out: the callee did not take the call.
DEFAULT_RETRY_ON: tuple[FinishReason, ...] = (
    FinishReason.SUBSCRIBER_BUSY,
    FinishReason.SUBSCRIBER_NOT_RESPONSIBLE,
    FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
)


class AnsweredBy(StrEnum):
    """Who took the call, by answering-machine detection (``detect_machine``)."""

    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"  # the analysis could not tell within its time


@dataclass(frozen=True)
class CollectDtmf:
    max_digits: int = 1
    timeout: float = 5.0  # seconds after the message ends
    finish_on: str = "#"  # one key ("" = none): ends the reply, not part of it


@dataclass(frozen=True)
class CollectSpeech:
    """A spoken reply: heard after the message (or over it: barge-in), recognised offline, and
    matched to one of ``intents`` (name → phrases, in the client's order)."""

    timeout: float = 5.0  # seconds after the message ends for the reply to start
    language: str = "ru"
    intents: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # in all, the first included
    interval: int  # seconds from the end of a failed attempt to the next INVITE
    on: tuple[FinishReason, ...] = DEFAULT_RETRY_ON


@dataclass(frozen=True)
class CallingWindow:
    start: int  # minutes after local midnight ("from"), inclusive
    till: int  # minutes after local midnight, exclusive; till < start wraps past midnight
    timezone: str  # CONTACT_ZONE or an IANA name, as requested
    zone: str | None = None  # the IANA zone it resolved to for this session (None: policy)


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_hhmm(text: str) -> int | None:
    """``"HH:MM"`` (00:00-23:59, or 24:00 for a ``till`` at midnight) → minutes; None if not."""
    if len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        return None
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


@dataclass(frozen=True)
class CallOptions:
    """What a session runs with beyond the vendor's call. ``source``: where the policy parts
    (retry, calling_window, detect_machine, record) came from: "request" or "account"."""

    collect_dtmf: CollectDtmf | None = None
    collect_speech: CollectSpeech | None = None
    retry: RetryPolicy | None = None
    calling_window: CallingWindow | None = None
    detect_machine: bool = False
    record: bool = False
    source: str = "request"

    @property
    def listens(self) -> bool:
        """The call must read the callee's audio."""
        return (
            self.collect_dtmf is not None
            or self.collect_speech is not None
            or self.detect_machine
            or self.record
        )

    @property
    def empty(self) -> bool:
        return not (self.listens or self.retry or self.calling_window)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.collect_dtmf is not None:
            c = self.collect_dtmf
            out["collect_dtmf"] = {
                "max_digits": c.max_digits, "timeout": c.timeout, "finish_on": c.finish_on,
            }  # fmt: skip
        if self.collect_speech is not None:
            sp = self.collect_speech
            out["collect_speech"] = {
                "timeout": sp.timeout, "language": sp.language,
                "intents": {name: list(phrases) for name, phrases in sp.intents},
            }  # fmt: skip
        if self.retry is not None:
            r = self.retry
            out["retry"] = {
                "attempts": r.attempts, "interval": r.interval, "on": [x.value for x in r.on],
            }  # fmt: skip
        if self.calling_window is not None:
            w = self.calling_window
            out["calling_window"] = {
                "from": hhmm(w.start), "till": hhmm(w.till), "timezone": w.timezone,
            }  # fmt: skip
            if w.zone is not None:
                out["calling_window"]["zone"] = w.zone
        if self.detect_machine:
            out["detect_machine"] = True
        if self.record:
            out["record"] = True
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> CallOptions | None:
        """From ``to_json``'s form (as stored); None stays None."""
        if not data:
            return None
        collect = data.get("collect_dtmf")
        speech = data.get("collect_speech")
        retry = data.get("retry")
        window = data.get("calling_window")
        return cls(
            collect_dtmf=None if collect is None else CollectDtmf(
                int(collect["max_digits"]), float(collect["timeout"]), str(collect["finish_on"])
            ),
            collect_speech=None if speech is None else CollectSpeech(
                float(speech["timeout"]), str(speech["language"]),
                tuple((str(k), tuple(map(str, v))) for k, v in speech["intents"].items()),
            ),
            retry=None if retry is None else RetryPolicy(
                int(retry["attempts"]), int(retry["interval"]),
                tuple(FinishReason(x) for x in retry["on"]),
            ),
            calling_window=None if window is None else CallingWindow(
                _minutes(window["from"]), _minutes(window["till"]), str(window["timezone"]),
                window.get("zone"),
            ),
            detect_machine=bool(data.get("detect_machine", False)),
            record=bool(data.get("record", False)),
            source=str(data.get("source", "request")),
        )  # fmt: skip


def _minutes(text: str) -> int:
    minutes = parse_hhmm(text)
    if minutes is None:
        raise ValueError(f"not HH:MM: {text!r}")
    return minutes
