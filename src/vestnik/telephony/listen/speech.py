"""``SpeechCollector``: a ``collect_speech`` reply, from the callee's frames to its intent.

The flow (``flow.ListenFlow``) feeds it every frame of the callee from the first packet on
(``vad.VoiceActivity`` learns the line's noise meanwhile) and tells it when the message starts
and when it is over. The reply is the first segment of speech that

- starts during the message, ``barge_in_after_ms`` or more after the message started, and lasts
  ``barge_in_ms``: a **barge-in** — ``feed`` says so and the flow cuts the message (as a key
  press does). Speech at the start of the message is the callee's "Алло?", not a reply; a
  shorter segment during the message counts only when it is still going on as the message
  ends. ``barge_in_ms = 0``: no barge-in;
- or starts within ``timeout`` seconds after the message (else: no reply, "" and no intent).

It ends after ``end_silence_ms`` without voice, at ``max_reply_seconds`` of audio, or at
``max_reply_seconds + LATE_SECONDS`` of wall-clock time (the callee's RTP stopped). Its audio
(with ``LEAD_IN_FRAMES`` before the onset; unless the VAD found it ``noise_like``: then it is no
reply) goes to the ``SpeechRecognizer`` in a task of its own:
the loop goes on at once, the recogniser's pool runs apart from the media path and answers None
when it is saturated or late (reported as "", no intent). Its answer is matched to the intents
(``calls.intents.match_intent``) and the flow's call hangs up. A call that ends meanwhile
(``settle``): a callee's hang-up still waits for the recognition (a reply said just before the
BYE counts); a release cancels it and reports what is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.calls.intents import match_intent
from vestnik.calls.options import CollectSpeech
from vestnik.calls.ports import SpeechRecognizer
from vestnik.config import SpeechConfig
from vestnik.telephony.listen.amd import FRAME_MS
from vestnik.telephony.listen.vad import ONSET_FRAMES, VoiceActivity

log = logging.getLogger(__name__)

LEAD_IN_FRAMES = 15  # 300 ms before the onset go to the recogniser too (a soft first sound)
LATE_SECONDS = 1.0  # wall-clock slack over max_reply_seconds of audio
SETTLE_SLACK_SECONDS = 1.0  # a hang-up waits the recogniser's own timeout and this at most


class SpeechCollector:
    """One call's spoken reply (the module's rules). ``state``: before (the message has not
    started) → message → after (the message is over, waiting for a reply) → reply (it is being
    heard) → recognising → done."""

    def __init__(
        self,
        spec: CollectSpeech,
        config: SpeechConfig,
        recognizer: SpeechRecognizer | None,
        post: Callable[[tuple[Any, ...]], None],
    ) -> None:
        self.spec = spec
        self._config = config
        self._recognizer = recognizer
        self._post = post
        self._loop = asyncio.get_running_loop()
        self.vad = VoiceActivity(config.end_silence_ms)
        self.state = "before"
        self._barge_from = 0.0  # loop time: speech starting from then on may barge in
        self._recent: deque[Pcm] = deque(maxlen=LEAD_IN_FRAMES + ONSET_FRAMES)
        self._segment: list[Pcm] = []  # the current segment, if it may be the reply
        self._max_frames = round(config.max_reply_seconds * 1000 / FRAME_MS)
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.reply = ""  # the recognised text ("" until known, or nothing said)
        self.intent: str | None = None
        # speech | max_reply | late | hangup | timeout | noise (a segment that was not speech)
        self.ended_by: str | None = None
        self.ended_at: float | None = None  # time.monotonic() when the reply was over

    # -- the flow's side ----------------------------------------------------------------------
    def message_started(self) -> None:
        if self.state == "before":
            self.state = "message"
            self._barge_from = self._loop.time() + self._config.barge_in_after_ms / 1000

    def message_over(self) -> None:
        """The message was sent or cut: a segment going on is the reply, else wait for one."""
        if self.state not in ("before", "message"):
            return
        if self.vad.speaking and self._segment:
            self._begin_reply()
        else:
            self.state = "after"
            self._arm(self.spec.timeout, "speech_timeout")

    def feed(self, frame: Pcm) -> bool:
        """One frame of the callee; True when it makes a barge-in (cut the message)."""
        state = self.state
        if state in ("recognising", "done"):
            return False
        event = self.vad.feed(frame)
        if state == "reply":
            self._segment.append(frame)
            if event == "end":
                self._end_reply("speech")
            elif len(self._segment) >= self._max_frames:
                self._end_reply("max_reply")
            return False
        self._recent.append(frame)
        if event == "start":
            listening = state == "after" or (
                state == "message" and self._loop.time() >= self._barge_from
            )
            self._segment = list(self._recent) if listening else []
        elif not self.vad.speaking:
            self._segment = []
        elif self._segment:
            self._segment.append(frame)
        if not self._segment:
            return False
        if state == "after":
            self._begin_reply()
            return False
        barge_in = self._config.barge_in_ms
        noise = self.vad.noise_like
        if state == "message" and barge_in and self.vad.voiced_ms >= barge_in and not noise:
            self._begin_reply()
            return True
        return False

    def signal(self, kind: str) -> bool:
        """A timer or the recognition (``("listen", kind)``); True when the reply is complete."""
        if kind == "speech_timeout" and self.state == "after":
            self.state, self.ended_by = "done", "timeout"
            return True
        if kind == "speech_late" and self.state == "reply":
            self._end_reply("late")
        return kind == "speech_done"

    def close(self) -> None:
        """The call is over: no more timers (the recognition is ``settle``'s)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def settle(self, released: bool) -> None:
        """The call ended: finish the reply. A reply being heard is recognised (unless
        ``released``); a recognition running is awaited (bounded), or cancelled on release."""
        self.close()
        if self.state == "reply" and not released:
            self._end_reply("hangup")
        task = self._task
        if task is None or task.done():
            return
        if not released:
            bound = self._config.recognition_timeout_seconds + SETTLE_SLACK_SECONDS
            await asyncio.wait({task}, timeout=bound)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- inside -------------------------------------------------------------------------------
    def _arm(self, seconds: float, kind: str) -> None:
        self.close()
        self._timer = self._loop.call_later(seconds, self._post, ("listen", kind))

    def _begin_reply(self) -> None:
        self.state = "reply"
        self._arm(self._config.max_reply_seconds + LATE_SECONDS, "speech_late")

    def _end_reply(self, how: str) -> None:
        self.close()
        self.state, self.ended_by, self.ended_at = "recognising", how, time.monotonic()
        pcm = np.concatenate(self._segment) if self._segment else np.zeros(0, np.int16)
        if self.vad.noise_like:  # not speech: nothing to recognise (nor to keep a worker on)
            self.ended_by, pcm = "noise", pcm[:0]
        self._segment = []
        self._task = self._loop.create_task(self._recognise(pcm), name="speech reply")

    async def _recognise(self, pcm: Pcm) -> None:
        text: str | None = None
        if self._recognizer is not None and len(pcm) >= SAMPLE_RATE * FRAME_MS // 1000:
            try:
                text = await self._recognizer.recognize(pcm, self.spec.language)
            except Exception:  # the port never raises; a bug must not lose the call's result
                log.exception("speech recogniser failed")
        self.reply = text or ""
        self.intent = match_intent(self.reply, self.spec.intents, self.spec.language)
        self.state = "done"
        self._post(("listen", "speech_done"))
