"""One call's outgoing RTP: what it plays (items) and how each 20 ms packet is made.

A stream is a UDP socket (one per call, connected to the callee's media address) plus a queue of
items: encoded G.711 audio (``bytes``; identical messages share one encoded buffer, see
``EncodedAudioCache``), RFC 4733 key presses (``ToneEvent``) and the finish mark. The pacer
(``scheduler.RtpPacer``) calls ``tick`` once per 20 ms; each tick sends exactly one packet.

Thread rules: the pacer thread owns each stream's sending state. Other threads only append to a
stream's queue (``play``/``event``/``mark``/``extend``/``finish``; one thread per stream),
flag it (``stop``, ``cut``) or read its counters; ``collections.deque.append`` and attribute
stores are atomic under the GIL.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from vestnik.calls.audio import Pcm
from vestnik.telephony.rtp.dtmf import PAUSE_SECONDS, dtmf_tone
from vestnik.telephony.rtp.g711 import G711Codec
from vestnik.telephony.rtp.packets import (
    DTMF_EVENTS,
    MARKER_BIT,
    SAMPLES_PER_PACKET,
    TELEPHONE_EVENT_END_REPEATS,
    TelephoneEvent,
    pack_fixed_header,
)

TICK_SECONDS = 0.020
PACKET_BYTES = SAMPLES_PER_PACKET  # G.711: one byte per sample


def ticks(seconds: float) -> int:
    """Whole packets (ticks) for a length of time, at least one."""
    return max(1, round(seconds / TICK_SECONDS))


def silence(codec: G711Codec, packets: int) -> bytes:
    """``packets`` packets of encoded silence."""
    return bytes([codec.silence]) * PACKET_BYTES * packets


class EncodedAudioCache:
    """G.711 bytes of a message, encoded once per (PCM array, codec).

    The renderer hands identical messages out as the same read-only array, so keying by the
    array's identity shares one encoded buffer among all calls playing it. An entry lives as
    long as its PCM array does.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str], tuple[weakref.ref[Any], bytes]] = {}
        self._lock = threading.Lock()

    def get(self, pcm: Pcm, codec: G711Codec) -> bytes:
        key = (id(pcm), codec.name)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is pcm:
                return entry[1]
        encoded = codec.encode(pcm)
        try:
            ref = weakref.ref(pcm, partial(self._drop, key))
        except TypeError:  # not weak-referenceable (a view of a temporary): do not cache
            return encoded
        with self._lock:
            self._entries[key] = (ref, encoded)
        return encoded

    def _drop(self, key: tuple[int, str], _ref: object) -> None:
        """The PCM array is gone: so is its entry (unless a new array took the key)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is None:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class ToneEvent:
    """One RFC 4733 key press: ``tone_ticks`` packets of growing duration (the last one with
    the end bit), the end packet repeated, then silence to fill ``gap_ticks``."""

    code: int
    tone_ticks: int
    gap_ticks: int


@dataclass(frozen=True)
class Mark:
    """A point in the queue: ``on_mark(stream, token, tick)`` is called when everything queued
    before it has been sent (``tick``: the stream's ticks so far, so the audio after the mark
    starts ``tick`` × 20 ms after the stream's first packet), or when ``cut`` drops it."""

    token: int


Item = bytes | ToneEvent | Mark


def dtmf_items(
    digits: str, codec: G711Codec, event_payload_type: int | None, tone_ms: int, gap_ms: int
) -> list[Item]:
    """What to queue for a DTMF string: RFC 4733 events when the callee takes them, in-band
    dual tones otherwise; each "." is a one-second pause."""
    tone_ticks = ticks(tone_ms / 1000)
    gap_ticks = ticks(gap_ms / 1000)
    items: list[Item] = []
    for key in digits:
        if key == ".":
            items.append(silence(codec, ticks(PAUSE_SECONDS)))
        elif event_payload_type is not None:
            items.append(ToneEvent(DTMF_EVENTS[key.upper()], tone_ticks, gap_ticks))
        else:
            tone = codec.encode(dtmf_tone(key, tone_ticks * round(TICK_SECONDS * 1000)))
            items.append(tone + silence(codec, gap_ticks))
    return items


_FINISH = object()  # queue sentinel: hang up when everything before it has been sent


class RtpStream:
    """One call's outgoing media. Created by ``RtpPacer.open_stream``."""

    def __init__(
        self,
        sock: socket.socket,
        codec: G711Codec,
        event_payload_type: int | None,
        on_done: Callable[[RtpStream], None] | None,
    ) -> None:
        self.sock = sock
        self.codec = codec
        self.event_payload_type = event_payload_type
        self.on_done = on_done
        self.on_first: Callable[[RtpStream], None] | None = None
        self.on_mark: Callable[[RtpStream, int, int], None] | None = None
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.timestamp = int.from_bytes(os.urandom(4), "big")
        self.silence_packet = silence(codec, 1)
        self.queue: deque[Any] = deque()
        # Counters and times, written by the pacer thread, readable anywhere.
        self.packets_sent = 0
        self.ticks = 0  # packets made (sent or not): the stream's position in 20 ms steps
        self.send_errors = 0
        self.first_sent_at: float | None = None  # time.monotonic() of the first packet
        self.finished = False  # everything queued was sent (hang-up may follow)
        self.stopped = False  # stop() was called: send nothing more
        # Pacer-thread state of the item being played.
        self._audio: bytes | None = None
        self._pos = 0
        self._event: ToneEvent | None = None
        self._event_tick = 0
        self._event_ts = 0
        self._marker = True  # first packet of a talkspurt
        # Items appended (by the one thread that queues) and taken (by the pacer thread);
        # ``cut`` drops the items up to ``_cut_to``.
        self._queued = 0
        self._taken = 0
        self._cut_to = 0

    # -- called from any thread -------------------------------------------------------------
    def play(self, audio: bytes) -> None:
        """Queue encoded audio (any length; the last packet is padded with silence)."""
        if audio:
            self._append(audio)

    def pause(self, seconds: float) -> None:
        self.play(silence(self.codec, ticks(seconds)))

    def event(self, event: ToneEvent) -> None:
        self._append(event)

    def mark(self, token: int) -> None:
        """Report ``token`` through ``on_mark`` once everything queued so far has been sent."""
        self._append(Mark(token))

    def extend(self, items: Iterable[Item]) -> None:
        for item in items:
            self._append(item)

    def finish(self) -> None:
        """Report done (``on_done``) once everything queued so far has been sent."""
        self._append(_FINISH)

    def cut(self) -> None:
        """Drop, at the next tick, the audio playing and everything queued so far (an RFC 4733
        event being sent still ends properly; a queued finish is kept); the dropped marks are
        reported then. What is queued after the call plays as usual."""
        self._cut_to = self._queued

    def _append(self, item: object) -> None:
        self.queue.append(item)
        self._queued += 1

    def stop(self) -> None:
        """Stop sending at the next tick (callee hung up, call released)."""
        self.stopped = True

    # -- pacer thread -------------------------------------------------------------------------
    def tick(self) -> bool:
        """Send this tick's packet. False when the stream is done and should be dropped."""
        if self.stopped:
            return False
        if self._cut_to > self._taken and not self._drop_cut():
            return False
        if self._event is None and self._audio is None and not self._next_item():
            return False
        if self._event is not None:
            payload_type, payload, marker, timestamp, last = self._event_packet()
            if last:
                self._event = None
                self._marker = True
        else:
            payload_type = self.codec.payload_type
            timestamp = self.timestamp
            audio = self._audio
            if audio is not None:
                payload = audio[self._pos : self._pos + PACKET_BYTES]
                self._pos += PACKET_BYTES
                if self._pos >= len(audio):
                    self._audio = None
                    if len(payload) < PACKET_BYTES:
                        payload += self.silence_packet[len(payload) :]
            else:  # nothing queued yet (audio still rendering): keep the line alive
                payload = self.silence_packet
            marker, self._marker = self._marker, False
        header = pack_fixed_header(
            (MARKER_BIT if marker else 0) | payload_type,
            self.seq & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            self.ssrc,
        )
        try:
            self.sock.send(header + payload)
            self.packets_sent += 1
        except OSError:  # ICMP unreachable from a closed peer port, full buffer: keep pacing
            self.send_errors += 1
        if self.first_sent_at is None:
            self.first_sent_at = time.monotonic()
            if self.on_first is not None:
                self.on_first(self)
        self.seq += 1
        self.ticks += 1
        self.timestamp += SAMPLES_PER_PACKET
        return True

    def _drop_cut(self) -> bool:
        """``cut``: drop the audio playing and the items queued before it. False when a
        dropped item was the finish mark (the stream is done)."""
        self._audio = None
        finish = False
        while self._taken < self._cut_to and self.queue:
            item = self.queue.popleft()
            self._taken += 1
            if item is _FINISH:
                finish = True
            elif isinstance(item, Mark):
                self._report_mark(item)
        if finish and self._event is None:
            self._cut_to = self._taken
            self.finished = True
            return False
        if finish:  # let the event end, then finish
            self.queue.appendleft(_FINISH)
            self._taken -= 1
        self._cut_to = self._taken
        return True

    def _report_mark(self, mark: Mark) -> None:
        if self.on_mark is not None:
            self.on_mark(self, mark.token, self.ticks)

    def _next_item(self) -> bool:
        """Load the next queued item. False once the finish sentinel is reached."""
        while self.queue:
            item = self.queue.popleft()
            self._taken += 1
            if item is _FINISH:
                self.finished = True
                return False
            if isinstance(item, Mark):
                self._report_mark(item)
                continue
            if isinstance(item, ToneEvent):
                self._event = item
                self._event_tick = 0
                self._event_ts = self.timestamp
                return True
            self._audio = item
            self._pos = 0
            return True
        return True  # nothing yet: the caller sends silence

    def _event_packet(self) -> tuple[int, bytes, bool, int, bool]:
        """(payload type, payload, marker, timestamp, last) for the current event tick."""
        event = self._event
        assert event is not None and self.event_payload_type is not None
        tick = self._event_tick
        self._event_tick += 1
        ends = max(event.gap_ticks, TELEPHONE_EVENT_END_REPEATS - 1)
        if tick < event.tone_ticks:
            end = tick == event.tone_ticks - 1
            duration = (tick + 1) * SAMPLES_PER_PACKET
            payload = TelephoneEvent(event.code, end, duration=duration).pack()
            return self.event_payload_type, payload, tick == 0, self._event_ts, False
        if tick < event.tone_ticks + TELEPHONE_EVENT_END_REPEATS - 1:
            duration = event.tone_ticks * SAMPLES_PER_PACKET
            payload = TelephoneEvent(event.code, True, duration=duration).pack()
            last = tick == event.tone_ticks + ends - 1
            return self.event_payload_type, payload, False, self._event_ts, last
        # The rest of the gap: silence at the running timestamp.
        last = tick >= event.tone_ticks + ends - 1
        return self.codec.payload_type, self.silence_packet, False, self.timestamp, last
