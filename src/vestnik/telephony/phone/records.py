"""What the test phone is told (``PhoneSettings``) and what it reports (``PhoneCall``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class PhoneMode(StrEnum):
    ANSWER = "answer"
    BUSY = "busy"  # 486 Busy Here
    NOANSWER = "noanswer"  # 180 Ringing until the caller gives up


class HungUpBy(StrEnum):
    CALLER = "caller"  # BYE, or CANCEL before the answer
    PHONE = "phone"  # our BYE (hangup_after), or our final error response
    STOPPED = "stopped"  # the phone was stopped mid-call


@dataclass(frozen=True)
class PhoneSettings:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, see TestPhone.start()
    mode: PhoneMode = PhoneMode.ANSWER
    # Codecs we accept, in our preference order; an offer with none of them gets 488.
    codecs: tuple[str, ...] = ("PCMA", "PCMU")
    # Put telephone-event in our answer (when offered). Off: the caller must send tones.
    telephone_event: bool = True
    record_dir: Path | None = None  # None: do not write WAV files
    hangup_after: float | None = None  # seconds after the answer; None: wait for the caller
    answer_delay: float = 0.0  # seconds of ringing before the answer
    # Append every call's JSON line to this file as well.
    results_path: Path | None = None


@dataclass(frozen=True)
class Digit:
    digit: str
    at: float  # seconds after the answer (start of the tone)
    duration: float  # seconds (0.0 if no end was seen)
    method: str  # "rfc4733" or "inband"


@dataclass(frozen=True)
class PhoneCall:
    """What the phone saw of one call (one JSON line in the results)."""

    call_id: str
    from_uri: str
    from_user: str
    to_user: str  # the Request-URI user: the number that was dialled
    mode: str
    final_code: int  # what we answered: 200, 486, 488, 487 (cancelled) ...
    hung_up_by: str
    started_at: float  # UNIX time the INVITE arrived
    answered_at: float | None
    ended_at: float
    duration: float  # seconds from the answer to the end (0 if not answered)
    codec: str | None
    telephone_event: int | None  # payload type we agreed to, or None (in-band DTMF)
    digits: list[Digit] = field(default_factory=list)
    wav: str | None = None
    audio_seconds: float = 0.0  # length of the recording
    rtp_packets: int = 0  # audio packets received
    rtp_lost: int = 0  # packets missing from the sequence numbers (audio and events)
    first_rtp_after_answer: float | None = None  # seconds

    @property
    def digit_string(self) -> str:
        return "".join(d.digit for d in self.digits)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)
