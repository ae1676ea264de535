"""``ListenFlow``: what a call with ``DialSpec.listen`` does between the answer and the hang-up.

The call (``sip.call.SipCall``) opens the stream with nothing queued, builds this flow and
hands it the message audio when it is rendered; the flow queues the call's audio, reads the
callee (``receiver``) and tells the call, by signals on the call's queue, when the call is
over (``("listen", "done")``). Its parts, each only when asked for:

- ``detect_machine``: the callee's frames go to ``amd.MachineDetector`` until it gives a
  verdict (at most ``total_analysis_ms`` of audio, and as long in wall-clock time plus
  ``AMD_GRACE_SECONDS``: a callee that sends no RTP is ``unknown``), and to ``amd.GreetingEnd``
  from the answer on. Human or unknown: the DTMF string and the message start at once.
  Machine: they start once ``GreetingEnd`` says the greeting and its beep are over (at most
  ``max_greeting_wait_ms`` of audio after the answer, or as long in wall-clock time plus
  ``AMD_GRACE_SECONDS``).
- ``collect_dtmf``: key presses (``receiver``: RFC 4733, else in-band) go to the
  ``collector.DtmfCollector``. The first press stops the message (``cut``: barge-in; a press
  before the message started means it is never played). The stream's mark after the message
  (or the cut) starts the ``timeout``; the reply is complete at ``max_digits``, ``finish_on`` or
  the timeout, and the call hangs up (``success_finish``). Without ``collect_dtmf`` the call
  hangs up when the message is sent, as without listening.
- ``collect_speech``: the callee's frames go to ``speech.SpeechCollector`` too, which tells
  the start and the end of a spoken reply (``vad``); speech over the message (after its first
  ``[speech] barge_in_after_ms``, at least ``barge_in_ms`` long) cuts it as a key press does.
  The recognised reply ends the call (``("listen", "speech_done")``); the start ``timeout``
  after the message, too. A call that ends while the reply is being recognised waits for it
  (``settle``; a release does not).
- ``record``: the callee's frames go to ``recorder.CallRecorder`` channel 0 at their RTP
  position from the first packet's arrival after the answer; ours (the DTMF string as tones,
  RFC 4733 events included, and the message as far as it was played) to channel 1 at the
  stream positions the marks report.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.calls.model import FinishReason
from vestnik.calls.options import AnsweredBy
from vestnik.calls.ports import CallResult, Listen, Recording, SpeechRecognizer
from vestnik.config import Config
from vestnik.telephony.listen.amd import GreetingEnd, MachineDetector
from vestnik.telephony.listen.collector import DtmfCollector
from vestnik.telephony.listen.receiver import CalleeReceiver
from vestnik.telephony.listen.recorder import CallRecorder
from vestnik.telephony.listen.speech import SpeechCollector
from vestnik.telephony.rtp.dtmf import PAUSE_SECONDS, dtmf_tone
from vestnik.telephony.rtp.pacer.stream import TICK_SECONDS, Item, ticks

log = logging.getLogger(__name__)

AMD_GRACE_SECONDS = 0.5  # wall-clock slack over the detector's own audio bounds
TICK_SAMPLES = round(SAMPLE_RATE * TICK_SECONDS)
# Stream marks: where the DTMF string and the message start and end; CUT follows a barge-in.
DTMF_START, MESSAGE_START, MESSAGE_END, CUT = 1, 2, 3, 4


class ListenFlow:
    def __init__(
        self,
        listen: Listen,
        sock: socket.socket,
        event_payload_type: int | None,
        post: Callable[[tuple[Any, ...]], None],
        answered_at: float | None,
        config: Config | None = None,
        dtmf: tuple[str, list[Item], int, int] = ("", [], 0, 0),
        recognizer: SpeechRecognizer | None = None,
    ) -> None:
        """``post`` queues a signal for the call (loop thread only); ``answered_at`` is the
        ``time.monotonic()`` of the answer; ``config`` the service's (``[amd]``, ``[speech]``
        and ``[dialer] max_recording_seconds``; None: the defaults);
        ``dtmf`` the DTMF string, its stream items, and its tone and gap lengths in ms;
        ``recognizer`` hears ``collect_speech`` replies (None: they are reported as "")."""
        self.listen = listen
        self._post = post
        self._loop = asyncio.get_running_loop()
        self._answered_at = time.monotonic() if answered_at is None else answered_at
        config = Config() if config is None else config
        self._amd_config = config.amd
        self._dtmf = dtmf
        self.collector = DtmfCollector(listen.collect_dtmf) if listen.collect_dtmf else None
        self.speech: SpeechCollector | None = None
        if listen.collect_speech is not None:
            self.speech = SpeechCollector(listen.collect_speech, config.speech, recognizer, post)
        self.answered_by: AnsweredBy | None = None
        self.recorder: CallRecorder | None = None
        if listen.record:
            self.recorder = CallRecorder(config.dialer.max_recording_seconds)
        self.receiver = CalleeReceiver(
            sock, event_payload_type, self._frame, self._key, inband=self.collector is not None
        )
        self.stream: Any = None
        self.phase = "start"  # amd → greeting → speak → after (the message is over)
        self._detector: MachineDetector | None = None
        self._greeting: GreetingEnd | None = None  # fed from the answer on
        self._greeting_limit = 0.0  # loop time: max_greeting_wait_ms after the answer
        self._timer: asyncio.TimerHandle | None = None
        self._pcm: Pcm | None = None
        self._encoded: bytes | None = None
        self._speaking = False  # the DTMF string (and the message, when ready) are queued
        self._barged = False
        self._marks: dict[int, int] = {}  # mark → the stream's tick when it was reached
        self.keys: list[tuple[str, float]] = []  # (key, time.monotonic()) as they came

    # -- the call's side ----------------------------------------------------------------------
    def start(self, stream: Any) -> None:
        """The stream is open (nothing queued): listen, and start the analysis or speaking."""
        self.stream = stream
        stream.on_mark = self._on_mark
        self.receiver.start(self._loop)
        if self.listen.detect_machine:
            self.phase = "amd"
            config = self._amd_config
            self._detector = MachineDetector(config)
            self._greeting = GreetingEnd(config)  # fed from the answer on, too
            self._greeting_limit = self._loop.time() + config.max_greeting_wait_ms / 1000
            limit = config.total_analysis_ms / 1000 + AMD_GRACE_SECONDS
            self._timer = self._loop.call_later(limit, self._post, ("listen", "amd_timeout"))
            return
        self._speak()

    def audio(self, pcm: Pcm | None, encoded: bytes) -> None:
        """The message is rendered (``encoded`` for the stream's codec)."""
        self._pcm, self._encoded = pcm, encoded
        if self._speaking:
            self._queue_message()

    def signal(self, signal: tuple[Any, ...]) -> bool:
        """A ``("listen", …)`` signal; True when the call is over (the reply is complete)."""
        kind = signal[1]
        if kind == "done":
            return True
        if kind == "timeout":
            if self.collector is not None:
                self.collector.time_out()
            return True
        if kind.startswith("speech_"):
            return self.speech is not None and self.speech.signal(kind)
        if kind == "mark":
            self._mark(signal[2], signal[3])
        elif kind == "amd_timeout" and self.phase == "amd":
            self._verdict(AnsweredBy.UNKNOWN)
        elif kind == "greeting_timeout" and self.phase == "greeting":
            self._speak()
        return False

    def close(self) -> None:
        """Stop reading and the timers (idempotent); before the socket is closed."""
        self.receiver.stop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.speech is not None:
            self.speech.close()

    async def settle(self, result: CallResult) -> CallResult:
        """The call is over (``result``): a spoken reply still being heard or recognised is
        finished (a release does not wait for it), and the result says what it was."""
        speech = self.speech
        if speech is None:
            return result
        try:
            await speech.settle(result.finish_reason is FinishReason.RELEASED)
        except Exception:
            log.exception("the spoken reply could not be finished")
        return dataclasses.replace(result, speech_reply=speech.reply, speech_intent=speech.intent)

    def close_socket(self, sock: socket.socket) -> None:
        """The pacer dropped the stream (its thread): close the socket on the loop, once it is
        no longer read."""

        def close() -> None:
            self.close()
            sock.close()

        try:
            self._loop.call_soon_threadsafe(close)
        except RuntimeError:  # the loop is closed: nothing reads the socket any more
            sock.close()

    @property
    def dtmf_reply(self) -> str | None:
        return None if self.collector is None else self.collector.reply

    def recording(self) -> Recording | None:
        recorder = self.recorder
        if recorder is None:
            return None
        try:
            self._record_ours()
            result: Recording | None = recorder.recording()
        except Exception:
            log.exception("the call's recording failed")
            return None
        return result

    # -- speaking -----------------------------------------------------------------------------
    def _speak(self) -> None:
        if self._speaking or self._barged:
            return
        self._cancel_timer()
        self.phase, self._speaking = "speak", True
        stream = self.stream
        stream.mark(DTMF_START)
        stream.extend(self._dtmf[1])
        if self._encoded is not None:
            self._queue_message()

    def _queue_message(self) -> None:
        if self._barged:
            return
        assert self._encoded is not None
        # Marked with the message, not when speaking began: a message rendered late starts
        # after some silence, and the recording places ours where it really started.
        self.stream.mark(MESSAGE_START)
        self.stream.play(self._encoded)
        self.stream.mark(MESSAGE_END)
        if self.collector is None and self.speech is None:
            self.stream.finish()  # hang up once it is sent, as without listening

    def _on_mark(self, _stream: object, token: int, tick: int) -> None:
        """The pacer's thread (or its reader thread): hand the mark to the loop."""
        with contextlib.suppress(RuntimeError):  # a closed loop: the call is long over
            self._loop.call_soon_threadsafe(self._post, ("listen", "mark", token, tick))

    def _mark(self, token: int, tick: int) -> None:
        self._marks.setdefault(token, tick)
        if token == MESSAGE_START and self.speech is not None:
            self.speech.message_started()
        if token == MESSAGE_END and not self._barged:
            self._message_over()

    def _message_over(self) -> None:
        """The message was sent (or cut): the reply's ``timeout`` runs from now."""
        if self.phase == "after":
            return
        self.phase = "after"
        self._cancel_timer()
        if self.speech is not None:
            self.speech.message_over()
        if self.collector is not None and not self.collector.done:
            timeout = self.collector.spec.timeout
            self._timer = self._loop.call_later(timeout, self._post, ("listen", "timeout"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- listening ----------------------------------------------------------------------------
    def _frame(self, position: int, frame: Pcm) -> None:
        if self.recorder is not None:
            self.recorder.add(0, self._callee_offset() + position, frame)
        greeting, detector = self._greeting, self._detector
        if self.phase == "amd" and greeting is not None and detector is not None:
            greeting.feed(frame)
            verdict = detector.feed(frame)
            if verdict is not None:
                self._verdict(verdict)
        elif self.phase == "greeting" and greeting is not None and greeting.feed(frame):
            self._speak()
        if self.speech is not None and self.speech.feed(frame) and not self._barged:
            self._barge()

    def _callee_offset(self) -> int:
        first = self.receiver.first_arrival
        return max(0, round(((first or self._answered_at) - self._answered_at) * SAMPLE_RATE))

    def _verdict(self, verdict: AnsweredBy) -> None:
        self._cancel_timer()
        self.answered_by = verdict
        if verdict is AnsweredBy.MACHINE and self._greeting is not None and not self._greeting.done:
            self.phase = "greeting"
            limit = max(0.0, self._greeting_limit - self._loop.time()) + AMD_GRACE_SECONDS
            self._timer = self._loop.call_later(limit, self._post, ("listen", "greeting_timeout"))
        else:
            self._speak()

    def _key(self, key: str, at: float) -> None:
        collector = self.collector
        if collector is None or collector.done:
            return
        self.keys.append((key, at))
        if not self._barged and self.phase != "after":
            self._barge()
        if collector.press(key):
            self._cancel_timer()
            self._post(("listen", "done"))

    def _barge(self) -> None:
        """The first key (or a spoken reply's barge-in): the message stops (or never starts);
        the timeout runs from now."""
        if self.phase == "amd":
            self.answered_by = AnsweredBy.HUMAN  # a machine does not press keys
        self._barged = True
        if self._speaking:
            self.stream.cut()
            self.stream.mark(CUT)
        self._message_over()

    # -- recording ----------------------------------------------------------------------------
    def _record_ours(self) -> None:
        """Our channel: the DTMF string and the message where the stream sent them."""
        first = getattr(self.stream, "first_sent_at", None)
        recorder = self.recorder
        if first is None or recorder is None:
            return
        base = max(0, round((first - self._answered_at) * SAMPLE_RATE))
        end = min((t for m, t in self._marks.items() if m in (MESSAGE_END, CUT)), default=None)
        for mark, pcm in ((DTMF_START, self._dtmf_pcm()), (MESSAGE_START, self._pcm)):
            tick = self._marks.get(mark)
            if tick is None or pcm is None or not len(pcm):
                continue
            if end is not None:
                pcm = pcm[: max(0, (end - tick) * TICK_SAMPLES)]
            if len(pcm):
                recorder.add(1, base + tick * TICK_SAMPLES, pcm)

    def _dtmf_pcm(self) -> Pcm | None:
        digits, _items, tone_ms, gap_ms = self._dtmf
        parts: list[Pcm] = []
        for key in digits:
            if key == ".":
                parts.append(np.zeros(ticks(PAUSE_SECONDS) * TICK_SAMPLES, dtype=np.int16))
            else:
                tone = ticks(tone_ms / 1000) * TICK_SAMPLES
                gap = ticks(gap_ms / 1000) * TICK_SAMPLES
                parts += [dtmf_tone(key, tone * 1000 // SAMPLE_RATE), np.zeros(gap, np.int16)]
        return np.concatenate(parts) if parts else None


def listen_result(listen: Listen | None, flow: ListenFlow | None) -> dict[str, Any]:
    """A call result's ``dtmf_reply``, ``speech_reply``/``speech_intent``, ``answered_by`` and
    ``recording``: None for what was not asked; "" when a reply was asked and nothing pressed
    or said (or the call was never answered; a spoken reply still being recognised is filled
    in by ``ListenFlow.settle``); ``unknown`` when a machine was to be detected on an answered
    call that gave no verdict."""
    if listen is None:
        return {}
    speech = "" if listen.collect_speech else None
    if flow is None:
        return {"dtmf_reply": "" if listen.collect_dtmf else None, "speech_reply": speech}
    detected = flow.answered_by or AnsweredBy.UNKNOWN
    if flow.speech is not None:
        speech = flow.speech.reply
    return {
        "dtmf_reply": flow.dtmf_reply,
        "speech_reply": speech,
        "speech_intent": flow.speech.intent if flow.speech is not None else None,
        "answered_by": detected if listen.detect_machine else None,
        "recording": flow.recording(),
    }
