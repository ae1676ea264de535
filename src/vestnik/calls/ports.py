"""The seams where the dialer meets the telephony and media adapters.

The dialer claims a session, asks the renderer for the message audio (started at claim time,
so it is ready at answer), asks the telephony adapter to place the call, and records what
happened. ``vestnik.telephony`` and ``vestnik.media`` implement these protocols; the dialer
uses them; only ``vestnik.service`` names the concrete classes. They live in the domain so
that neither side imports the other.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vestnik.calls.audio import Pcm
from vestnik.calls.model import ContactKind, FinishReason, MessageType
from vestnik.calls.options import AnsweredBy, CollectDtmf, CollectSpeech


@dataclass(frozen=True)
class MessageSpec:
    type: MessageType
    value: str  # TTS text, or the media file id as a string
    account_id: int


class MessageRenderer(Protocol):
    async def render(self, message: MessageSpec) -> Pcm:
        """The message as 8 kHz PCM. Raises ``RenderError`` when it cannot be rendered."""
        ...


class RenderError(Exception):
    """The message could not be turned into audio (engine failure, missing file)."""


@dataclass(frozen=True)
class Listen:
    """What a call must do with the callee's audio (``DialSpec.listen``; None: nothing, the
    audio is not read at all)."""

    collect_dtmf: CollectDtmf | None = None  # collect a reply of key presses
    detect_machine: bool = False  # human or answering machine, before the message
    record: bool = False  # both directions, as ``CallResult.recording``
    collect_speech: CollectSpeech | None = None  # collect a spoken reply


@dataclass(frozen=True)
class Recording:
    """A call's audio: a WAV file, 8 kHz 16-bit, channel 1 the callee, channel 2 ours."""

    wav: bytes
    duration_ms: int


@dataclass(frozen=True)
class DialSpec:
    session_id: int
    caller: str  # E.164 digits, no "+"; the adapter formats it for the trunk
    contact: str  # E.164 digits, or a SIP URI when contact_kind is SIP
    contact_kind: ContactKind
    dialing_timeout: float  # seconds
    dtmf: str  # "^[0-9*#.]*$", "." = 1 s pause
    # The trunks that may carry the call, in the order to try them (calls.routing); empty:
    # every configured trunk, by priority.
    route: tuple[str, ...] = ()
    listen: Listen | None = None


@dataclass(frozen=True)
class TrunkAttempt:
    """One INVITE of a call: the trunk it went to and how that trunk answered."""

    trunk: str
    sip_code: int | None  # final response, or None (no response, transport error, CANCEL)
    sip_reason: str | None


class CallObserver(Protocol):
    """Progress callbacks, called on the asyncio loop thread."""

    def on_dialing(self, sip_call_id: str) -> None: ...
    def on_ringing(self) -> None: ...
    def on_answered(self) -> None: ...


@dataclass(frozen=True)
class CallResult:
    finish_reason: FinishReason
    sip_code: int | None = None  # final response code, or None (e.g. CANCEL, transport)
    sip_reason: str | None = None  # reason phrase, or what happened ("callee BYE", ...)
    sip_call_id: str | None = None
    detail: str | None = None  # free text for operators
    first_audio_delay: float | None = None  # seconds from 200 OK to first RTP packet
    trunk: str | None = None  # the trunk that carried the call (the last one tried)
    attempts: tuple[TrunkAttempt, ...] = ()  # every trunk tried, in order
    dtmf_reply: str | None = None  # collect_dtmf: the keys pressed ("" none); else None
    answered_by: AnsweredBy | None = None  # detect_machine's verdict; else None
    # collect_speech: the recognised text ("" nothing said or not recognised) and the intent
    # it matched (None: none matched); both None when collect_speech was not asked.
    speech_reply: str | None = None
    speech_intent: str | None = None
    recording: Recording | None = None  # record: the call's audio; else None


class CallHandle(Protocol):
    def release(self) -> None:
        """End the call now: CANCEL before answer, BYE after. Idempotent."""
        ...

    def result(self) -> Awaitable[CallResult]:
        """Completes when the call is over (never raises; failures are a CallResult)."""
        ...


class SpeechRecognizer(Protocol):
    """Offline speech-to-text for spoken replies (``collect_speech``). ``vestnik.speech``
    implements it; the telephony's listening calls use it; ``vestnik.service`` wires them."""

    async def recognize(self, pcm: Pcm, language: str) -> str | None:
        """The text said in ``pcm`` (8 kHz mono int16; "" when nothing was said). None when it
        could not be recognised now: the pool is saturated, the wait timed out, the model
        failed. Never blocks the event loop; never raises."""
        ...


class TrunkGate(Protocol):
    """A trunk's ``calls_per_second`` and ``max_concurrent_calls``, held for every process on
    one database together, applied at the SIP send: the telephony enters before each INVITE
    and leaves when that INVITE's call is over."""

    async def enter(self, trunk: str, deadline: float) -> bool:
        """Wait, until loop time ``deadline`` at most, until the trunk may take one more call
        now; False: not before the deadline (the call tries its next trunk)."""
        ...

    def leave(self, trunk: str) -> None:
        """A call that entered ``trunk`` is over (its place is free again)."""
        ...


class Telephony(Protocol):
    def place_call(
        self, dial: DialSpec, audio: Awaitable[Pcm], observer: CallObserver
    ) -> CallHandle:
        """Start dialing now; ``audio`` is awaited only once the callee answers."""
        ...

    @property
    def max_calls(self) -> int | None:
        """Calls the adapter can carry at once (e.g. its RTP ports); None: no bound of its own.
        The dialer never hands it more."""
        ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class AudioImportError(Exception):
    """An audio file cannot become a message (not audio, silent, too long …): the text says
    why, in words fit for the person who sent the file."""


class AudioImporter(Protocol):
    """Turns an uploaded audio file into a stored message: ``vestnik.media`` implements it,
    the HTTP upload (``vestnik.api.upload``) uses it; ``vestnik.service`` wires the two."""

    def import_audio(
        self, conn: Any, account_id: int, path: Path, name: str | None, original_filename: str
    ) -> int:
        """The new media file's id. Stored within the caller's transaction on ``conn`` (a
        ``vestnik.store`` connection): if it rolls back, no row and no file is left. Raises
        ``AudioImportError``."""
        ...
