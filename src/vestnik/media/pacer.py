"""The RTP pacer: one 20 ms tick that sends one packet for every active stream.

Why our own and not ``sippy.Rtp``: that one speaks PCMU only, cannot send telephone-events and
costs ~80 µs per packet. Here a stream is a UDP socket (one per call, connected to the callee's
media address) plus a queue of what to play: pre-encoded G.711 audio (identical messages share
one encoded buffer, see ``EncodedAudioCache``) and RFC 4733 events. The pacer runs in its own
thread and sleeps to absolute deadlines (start + n·20 ms), so one late tick does not shift the
ones after it.

Thread rules: the pacer thread owns each stream's sending state. Other threads only append to a
stream's queue (``play``/``event``/``finish``), flag it (``stop``) or read its counters;
``collections.deque.append`` and attribute stores are atomic under the GIL.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import struct
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vestnik.calls.audio import Pcm
from vestnik.media.codecs import g711
from vestnik.media.dtmf import PAUSE_SECONDS, dtmf_tone
from vestnik.media.rtp import (
    DTMF_EVENTS,
    PT_PCMA,
    PT_PCMU,
    SAMPLES_PER_PACKET,
    TELEPHONE_EVENT_END_REPEATS,
    TELEPHONE_EVENT_VOLUME,
)

log = logging.getLogger(__name__)

TICK_SECONDS = 0.020
PACKET_BYTES = SAMPLES_PER_PACKET  # G.711: one byte per sample
# A tick that starts this much after its deadline counts as late.
LATE_TICK_SECONDS = 0.005
# Further behind than this (a stopped process, a long GC pause): restart the schedule from now
# instead of bursting every missed packet at once.
RESYNC_SECONDS = 0.200
# We never read the callee's audio: a small receive buffer keeps what the kernel holds for an
# unread socket small (Linux doubles this value and enforces its own minimum).
RECEIVE_BUFFER_BYTES = 4096
# SCHED_RR priority of the pacer thread when real-time scheduling is asked for (1-99).
REALTIME_PRIORITY = 10

_HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True)
class G711:
    name: str
    payload_type: int
    silence: int  # code byte of a zero sample
    table: np.ndarray  # 65,536-entry encode table

    def encode(self, pcm: Pcm) -> bytes:
        return bytes(self.table[np.asarray(pcm, dtype=np.int16).view(np.uint16)])


PCMA = G711("PCMA", PT_PCMA, g711.ALAW_SILENCE, g711.ALAW_ENCODE)
PCMU = G711("PCMU", PT_PCMU, g711.ULAW_SILENCE, g711.ULAW_ENCODE)
CODECS: dict[str, G711] = {"PCMA": PCMA, "PCMU": PCMU}


class EncodedAudioCache:
    """G.711 bytes of a message, encoded once per (PCM array, codec).

    The renderer hands identical messages out as the same read-only array, so keying by the
    array's identity shares one encoded buffer among all calls playing it. An entry lives as
    long as its PCM array does.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str], tuple[weakref.ref[Any], bytes]] = {}
        self._lock = threading.Lock()

    def get(self, pcm: Pcm, codec: G711) -> bytes:
        key = (id(pcm), codec.name)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is pcm:
                return entry[1]
        encoded = codec.encode(pcm)
        try:
            ref = weakref.ref(pcm, lambda _ref, key=key: self._drop(key))
        except TypeError:  # not weak-referenceable (a view of a temporary): do not cache
            return encoded
        with self._lock:
            self._entries[key] = (ref, encoded)
        return encoded

    def _drop(self, key: tuple[int, str]) -> None:
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


_FINISH = object()  # queue sentinel: hang up when everything before it has been sent


class RtpStream:
    """One call's outgoing media. Created by ``RtpPacer.open_stream``."""

    def __init__(
        self,
        sock: socket.socket,
        codec: G711,
        event_payload_type: int | None,
        on_done: Callable[[RtpStream], None] | None,
    ) -> None:
        self.sock = sock
        self.codec = codec
        self.event_payload_type = event_payload_type
        self.on_done = on_done
        self.on_first: Callable[[RtpStream], None] | None = None
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.timestamp = int.from_bytes(os.urandom(4), "big")
        self.silence_packet = bytes([codec.silence]) * PACKET_BYTES
        self.queue: deque[Any] = deque()
        # Counters and times, written by the pacer thread, readable anywhere.
        self.packets_sent = 0
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

    # -- called from any thread -------------------------------------------------------------
    def play(self, audio: bytes) -> None:
        """Queue encoded audio (any length; the last packet is padded with silence)."""
        if audio:
            self.queue.append(audio)

    def pause(self, seconds: float) -> None:
        self.play(self.silence_packet * max(1, round(seconds / TICK_SECONDS)))

    def event(self, event: ToneEvent) -> None:
        self.queue.append(event)

    def finish(self) -> None:
        """Report done (``on_done``) once everything queued so far has been sent."""
        self.queue.append(_FINISH)

    def stop(self) -> None:
        """Stop sending at the next tick (callee hung up, call released)."""
        self.stopped = True

    # -- pacer thread -------------------------------------------------------------------------
    def tick(self) -> bool:
        """Send this tick's packet. False when the stream is done and should be dropped."""
        if self.stopped:
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
        try:
            self.sock.send(
                _HEADER.pack(
                    0x80,
                    (0x80 if marker else 0) | payload_type,
                    self.seq & 0xFFFF,
                    timestamp & 0xFFFFFFFF,
                    self.ssrc,
                )
                + payload
            )
            self.packets_sent += 1
        except OSError:  # ICMP unreachable from a closed peer port, full buffer: keep pacing
            self.send_errors += 1
        if self.first_sent_at is None:
            self.first_sent_at = time.monotonic()
            if self.on_first is not None:
                self.on_first(self)
        self.seq += 1
        self.timestamp += SAMPLES_PER_PACKET
        return True

    def _next_item(self) -> bool:
        """Load the next queued item. False once the finish sentinel is reached."""
        while self.queue:
            item = self.queue.popleft()
            if item is _FINISH:
                self.finished = True
                return False
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
            payload = bytes((event.code, (0x80 if end else 0) | TELEPHONE_EVENT_VOLUME)) + (
                duration.to_bytes(2, "big")
            )
            return self.event_payload_type, payload, tick == 0, self._event_ts, False
        if tick < event.tone_ticks + TELEPHONE_EVENT_END_REPEATS - 1:
            duration = event.tone_ticks * SAMPLES_PER_PACKET
            payload = bytes((event.code, 0x80 | TELEPHONE_EVENT_VOLUME)) + duration.to_bytes(
                2, "big"
            )
            last = tick == event.tone_ticks + ends - 1
            return self.event_payload_type, payload, False, self._event_ts, last
        # The rest of the gap: silence at the running timestamp.
        last = tick >= event.tone_ticks + ends - 1
        return self.codec.payload_type, self.silence_packet, False, self.timestamp, last


@dataclass
class PacerStats:
    ticks: int = 0
    late_ticks: int = 0
    resyncs: int = 0
    packets_sent: int = 0  # packets handed to the kernel (including failed sends)
    send_errors: int = 0  # failed sends of finished streams
    active_streams: int = 0
    busy_seconds: float = 0.0  # time spent sending (to derive µs per packet)
    max_tick_seconds: float = 0.0


class RtpPacer:
    """The sending thread. ``start``/``close`` it once; ``open_stream`` per answered call."""

    def __init__(self, tick: float = TICK_SECONDS, realtime: bool = False) -> None:
        self.tick_seconds = tick
        self.realtime = realtime
        self.stats = PacerStats()
        self._streams: list[RtpStream] = []
        self._incoming: deque[RtpStream] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        # How late each recent tick started (seconds), for benchmarks and diagnostics.
        self.recent_lags: deque[float] = deque(maxlen=1 << 16)

    def start(self) -> None:
        if self._thread is None:
            self._closing = False
            self._thread = threading.Thread(target=self._run, name="rtp-pacer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def open_stream(
        self,
        sock: socket.socket,
        codec: G711,
        event_payload_type: int | None,
        on_done: Callable[[RtpStream], None] | None = None,
        items: Iterable[bytes | ToneEvent] = (),
    ) -> RtpStream:
        """A new stream on a socket already connected to the callee's media address, with
        ``items`` queued. It starts at the next tick and sends silence whenever its queue is
        empty (audio still rendering) until ``finish`` is queued."""
        stream = RtpStream(sock, codec, event_payload_type, on_done)
        stream.queue.extend(items)
        self.adopt(stream)
        return stream

    def adopt(self, stream: RtpStream) -> None:
        """Start pacing a stream built by the caller."""
        self._incoming.append(stream)
        self._wake.set()

    @property
    def active_streams(self) -> int:
        return len(self._streams) + len(self._incoming)

    def _run(self) -> None:
        if self.realtime:
            try:  # this thread only (pid 0 = the calling thread on Linux)
                os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
            except (OSError, AttributeError) as exc:
                log.warning("RTP pacer: no real-time priority (%s); running at normal", exc)
        period = self.tick_seconds
        stats = self.stats
        monotonic = time.monotonic
        deadline = monotonic()
        while not self._closing:
            incoming = self._incoming
            while incoming:
                self._streams.append(incoming.popleft())
            streams = self._streams
            if not streams:
                self._wake.clear()
                if not self._incoming and not self._closing:
                    self._wake.wait()
                deadline = monotonic()
                continue
            started = monotonic()
            lag = started - deadline
            self.recent_lags.append(lag)
            if lag > LATE_TICK_SECONDS:
                stats.late_ticks += 1
                if lag > RESYNC_SECONDS:
                    stats.resyncs += 1
                    deadline = started
            done: list[RtpStream] | None = None
            sent = 0
            for stream in streams:
                try:
                    alive = stream.tick()
                except Exception:  # one bad stream must not stop the others
                    log.exception("RTP stream failed; dropping it")
                    stream.stopped = True
                    alive = False
                if alive:
                    sent += 1
                else:
                    if done is None:
                        done = []
                    done.append(stream)
            if done:
                gone = set(map(id, done))
                self._streams = [s for s in streams if id(s) not in gone]
                for stream in done:
                    stats.send_errors += stream.send_errors
                    self._notify_done(stream)
            finished = monotonic()
            busy = finished - started
            stats.ticks += 1
            stats.busy_seconds += busy
            stats.max_tick_seconds = max(stats.max_tick_seconds, busy)
            stats.packets_sent += sent
            stats.active_streams = len(self._streams)
            deadline += period
            self._sleep_until(deadline)
        for stream in self._streams + list(self._incoming):
            stream.stopped = True
            self._notify_done(stream)
        self._streams = []
        self._incoming.clear()

    def _sleep_until(self, deadline: float) -> None:
        """Sleep to the next tick. A stream opened meanwhile sends its first packet at once
        (the callee hears audio sooner) and joins the common tick after that."""
        while not self._closing:
            delay = deadline - time.monotonic()
            if delay <= 0:
                return
            self._wake.clear()
            if not self._incoming:
                self._wake.wait(delay)
            while self._incoming:
                stream = self._incoming.popleft()
                if stream.tick():
                    self.stats.packets_sent += 1
                    self._streams.append(stream)
                else:
                    self._notify_done(stream)

    @staticmethod
    def _notify_done(stream: RtpStream) -> None:
        if stream.on_done is not None:
            try:
                stream.on_done(stream)
            except Exception:
                log.exception("RTP stream done-callback failed")


def dtmf_items(
    digits: str, codec: G711, event_payload_type: int | None, tone_ms: int, gap_ms: int
) -> list[bytes | ToneEvent]:
    """What to queue for a DTMF string: RFC 4733 events when the callee takes them, in-band
    dual tones otherwise; each "." is a one-second pause."""
    tone_ticks = max(1, round(tone_ms / 1000 / TICK_SECONDS))
    gap_ticks = max(1, round(gap_ms / 1000 / TICK_SECONDS))
    silence = bytes([codec.silence]) * PACKET_BYTES
    items: list[bytes | ToneEvent] = []
    for key in digits:
        if key == ".":
            items.append(silence * round(PAUSE_SECONDS / TICK_SECONDS))
        elif event_payload_type is not None:
            items.append(ToneEvent(DTMF_EVENTS[key.upper()], tone_ticks, gap_ticks))
        else:
            tone = codec.encode(dtmf_tone(key, tone_ticks * round(TICK_SECONDS * 1000)))
            items.append(tone + silence * gap_ticks)
    return items


# --- the pacer in a child process --------------------------------------------------------------
#
# In the main process the pacer thread shares the GIL with sippy, asyncio and the garbage
# collector; at 1000 calls a full collection of sippy's objects paused every thread for
# 70-180 ms (measured), and every packet's send() hands the GIL to whoever waits for it.
# ``ProcessPacer`` runs the same ``RtpPacer`` in a small child process instead. The main process
# passes each call's connected UDP socket (SCM_RIGHTS), the items to play and each distinct
# encoded message once; the child reports first-packet times, finished streams and stats.
# Frames on the Unix stream socket: 4-byte big-endian length, then a pickle.

_LENGTH = struct.Struct("!I")
STATS_INTERVAL = 0.5
START_TIMEOUT = 30.0
# The child's entry point. SIGINT and SIGTERM are ignored before anything else is imported: Ctrl-C
# in a terminal and systemd (KillMode=control-group) signal the whole process group, and the
# parent's graceful drain needs the pacer until its last call ends. The parent stops the child
# ("close" frame, or EOF on the channel when the parent itself dies).
_CHILD_BOOTSTRAP = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "from vestnik.media.pacer import _child_main\n"
    "_child_main(int(sys.argv[1]), realtime=sys.argv[2] == 'realtime')\n"
)


def _send_frame(chan: socket.socket, message: object, fds: list[int] | None = None) -> None:
    import pickle

    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    frame = _LENGTH.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(chan, [frame[:4]], fds)
        chan.sendall(frame[sent:])
    else:
        chan.sendall(frame)


def _recv_exact(chan: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = chan.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv_frame(chan: socket.socket) -> tuple[Any, list[int]]:
    import pickle

    header, fds, _flags, _addr = socket.recv_fds(chan, 4, 4)
    if not header:
        raise EOFError
    if len(header) < 4:
        header += _recv_exact(chan, 4 - len(header))
    (length,) = _LENGTH.unpack(header)
    return pickle.loads(_recv_exact(chan, length)), fds


class RemoteStream:
    """The main process's view of a stream the child pacer sends. Same surface as
    ``RtpStream`` for callers: ``play``, ``pause``, ``event``, ``finish``, ``stop``,
    ``first_sent_at``, ``finished``, ``packets_sent``."""

    def __init__(
        self, owner: ProcessPacer, stream_id: int, on_done: Callable[[Any], None] | None
    ) -> None:
        self.owner = owner
        self.stream_id = stream_id
        self.on_done = on_done
        self.first_sent_at: float | None = None
        self.finished = False
        self.stopped = False
        self.done = False
        self.packets_sent = 0
        self.send_errors = 0
        self.buffers: list[int] = []

    def play(self, audio: bytes) -> None:
        if audio:
            self.owner._play(self, audio)

    def pause(self, seconds: float) -> None:
        self.owner._send(("items", self.stream_id, [_silence_marker(seconds)]))

    def event(self, event: ToneEvent) -> None:
        self.owner._send(("items", self.stream_id, [event]))

    def finish(self) -> None:
        self.owner._send(("finish", self.stream_id))

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.owner._send(("stop", self.stream_id))


def _silence_marker(seconds: float) -> tuple[str, float]:
    return ("pause", seconds)


class ProcessPacer:
    """``RtpPacer`` in a child process (``_CHILD_BOOTSTRAP``; it ignores SIGINT/SIGTERM)."""

    def __init__(self, realtime: bool = False) -> None:
        self.realtime = realtime
        self.stats = PacerStats()
        self.recent_lags: deque[float] = deque(maxlen=1 << 16)
        self._streams: dict[int, RemoteStream] = {}
        self._buffers: dict[int, tuple[bytes, int]] = {}  # id(bytes) -> (bytes, users)
        self._next_id = 1
        # Held across each decision and the frames it sends, so the child sees buffer/play/drop
        # frames in the order the decisions were made.
        self._lock = threading.RLock()
        self._chan: socket.socket | None = None
        self._process: Any = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def active_streams(self) -> int:
        return len(self._streams)

    @property
    def pid(self) -> int | None:
        """The child's process id (for CPU and memory accounting)."""
        return None if self._process is None else int(self._process.pid)

    def start(self) -> None:
        import subprocess
        import sys

        if self._process is not None:
            return
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD_BOOTSTRAP,
                str(child.fileno()),
                "realtime" if self.realtime else "normal",
            ],
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
        )
        child.close()
        self._chan = parent
        self._reader = threading.Thread(target=self._read, name="rtp-pacer-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(START_TIMEOUT):
            self.close()
            raise RuntimeError("the RTP pacer process did not start")

    def close(self) -> None:
        if self._process is None:
            return
        self._send(("close",))
        try:
            self._process.wait(5)
        except Exception:
            self._process.kill()
            self._process.wait()
        if self._reader is not None:
            self._reader.join(5)
        if self._chan is not None:
            self._chan.close()
        self._process = None
        self._fail_all()

    def open_stream(
        self,
        sock: socket.socket,
        codec: G711,
        event_payload_type: int | None,
        on_done: Callable[[Any], None] | None = None,
        items: Iterable[bytes | ToneEvent] = (),
    ) -> RemoteStream:
        with self._lock:
            stream_id = self._next_id
            self._next_id += 1
            stream = RemoteStream(self, stream_id, on_done)
            self._streams[stream_id] = stream
        message = ("open", stream_id, codec.name, event_payload_type, list(items))
        self._send(message, fds=[sock.fileno()])
        return stream

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, message: object, fds: list[int] | None = None) -> None:
        chan = self._chan
        if chan is None:
            return
        try:
            with self._lock:
                _send_frame(chan, message, fds)
        except OSError:
            log.exception("RTP pacer process is gone")

    def _play(self, stream: RemoteStream, audio: bytes) -> None:
        key = id(audio)  # the bytes object stays referenced here while any stream uses it
        with self._lock:
            entry = self._buffers.get(key)
            known = entry is not None and entry[0] is audio
            self._buffers[key] = (audio, (entry[1] if known and entry else 0) + 1)
            stream.buffers.append(key)
            if not known:
                self._send(("buffer", key, audio))
            self._send(("play", stream.stream_id, key))

    def _release_buffers(self, stream: RemoteStream) -> None:
        with self._lock:
            for key in stream.buffers:
                audio, users = self._buffers[key]
                if users <= 1:
                    del self._buffers[key]
                    self._send(("drop", key))
                else:
                    self._buffers[key] = (audio, users - 1)
            stream.buffers = []

    def _read(self) -> None:
        chan = self._chan
        assert chan is not None
        while True:
            try:
                message, _fds = _recv_frame(chan)
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "ready":
                self._ready.set()
            elif kind == "first":
                stream = self._streams.get(message[1])
                if stream is not None:
                    stream.first_sent_at = message[2]
            elif kind == "done":
                _, stream_id, finished, packets, errors = message
                stream = self._streams.pop(stream_id, None)
                if stream is not None:
                    stream.finished, stream.packets_sent, stream.send_errors = (
                        finished, packets, errors
                    )  # fmt: skip
                    self._finish(stream)
            elif kind == "stats":
                for name, value in message[1].items():
                    setattr(self.stats, name, value)
                self.recent_lags.extend(message[2])
        self._fail_all()

    def _finish(self, stream: RemoteStream) -> None:
        stream.done = True
        self._release_buffers(stream)
        if stream.on_done is not None:
            try:
                stream.on_done(stream)
            except Exception:
                log.exception("RTP stream done-callback failed")

    def _fail_all(self) -> None:
        """The child is gone: every stream it had is over (not finished)."""
        while self._streams:
            _, stream = self._streams.popitem()
            stream.stopped = True
            self._finish(stream)


def _child_main(fd: int, realtime: bool = False) -> None:
    """The child process: an ``RtpPacer`` driven by frames from the parent."""
    chan = socket.socket(fileno=fd)
    pacer = RtpPacer(realtime=realtime)
    pacer.start()
    send_lock = threading.Lock()
    streams: dict[int, RtpStream] = {}
    buffers: dict[int, bytes] = {}
    closing = threading.Event()

    def send(message: object) -> None:
        with send_lock:
            try:
                _send_frame(chan, message)
            except OSError:
                closing.set()

    def on_done(stream_id: int, stream: RtpStream) -> None:
        streams.pop(stream_id, None)
        stream.sock.close()
        send(("done", stream_id, stream.finished, stream.packets_sent, stream.send_errors))

    def report() -> None:
        reported = 0
        while not closing.wait(STATS_INTERVAL):
            lags = list(pacer.recent_lags)
            fresh = lags[-min(len(lags), pacer.stats.ticks - reported) :] if lags else []
            reported = pacer.stats.ticks
            send(("stats", dataclasses.asdict(pacer.stats), fresh))

    def item(value: Any, codec: G711) -> Any:
        if isinstance(value, tuple) and value and value[0] == "pause":
            return bytes([codec.silence]) * PACKET_BYTES * max(1, round(value[1] / TICK_SECONDS))
        return value

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    send(("ready",))
    try:
        while not closing.is_set():
            try:
                message, fds = _recv_frame(chan)
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "open":
                _, sid, codec_name, event_pt, items = message
                codec = CODECS[codec_name]
                sock = socket.socket(fileno=fds[0])
                stream = RtpStream(sock, codec, event_pt, lambda s, sid=sid: on_done(sid, s))
                stream.on_first = lambda s, sid=sid: send(("first", sid, s.first_sent_at))
                stream.queue.extend(item(i, codec) for i in items)
                streams[sid] = stream
                pacer.adopt(stream)
            elif kind == "items" and message[1] in streams:
                stream = streams[message[1]]
                stream.queue.extend(item(i, stream.codec) for i in message[2])
            elif kind == "buffer":
                buffers[message[1]] = message[2]
            elif kind == "drop":
                buffers.pop(message[1], None)
            elif kind == "play" and message[1] in streams:
                audio = buffers.get(message[2])
                if audio is not None:
                    streams[message[1]].play(audio)
            elif kind == "finish" and message[1] in streams:
                streams[message[1]].finish()
            elif kind == "stop" and message[1] in streams:
                streams[message[1]].stop()
            elif kind == "close":
                break
    finally:
        closing.set()
        pacer.close()
        chan.close()
