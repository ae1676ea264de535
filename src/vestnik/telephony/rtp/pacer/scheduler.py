"""The RTP pacer: one 20 ms tick that sends one packet for every active stream.

Why our own and not ``sippy.Rtp``: that one speaks PCMU only, cannot send telephone-events and
costs ~80 µs per packet. ``RtpPacer`` runs in its own thread (in the main process, or in the
child of ``process.ProcessPacer``) and sleeps to absolute deadlines (start + n·20 ms), so one
late tick does not shift the ones after it. What a stream sends is ``stream.RtpStream``'s
business; this module only keeps time and the list of streams.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vestnik.telephony.rtp.g711 import G711Codec
from vestnik.telephony.rtp.pacer.stream import TICK_SECONDS, Item, RtpStream

log = logging.getLogger(__name__)

# A tick that starts this much after its deadline counts as late.
LATE_TICK_SECONDS = 0.005
# Further behind than this (a stopped process, a long GC pause): restart the schedule from now
# instead of bursting every missed packet at once.
RESYNC_SECONDS = 0.200
# SCHED_RR priority of the pacer thread when real-time scheduling is asked for (1-99).
REALTIME_PRIORITY = 10


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
        codec: G711Codec,
        event_payload_type: int | None,
        on_done: Callable[[RtpStream], None] | None = None,
        items: Iterable[Item] = (),
    ) -> RtpStream:
        """A new stream on a socket already connected to the callee's media address, with
        ``items`` queued. It starts at the next tick and sends silence whenever its queue is
        empty (audio still rendering) until ``finish`` is queued."""
        stream = RtpStream(sock, codec, event_payload_type, on_done)
        stream.extend(items)
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
            _ask_for_realtime()
        stats = self.stats
        monotonic = time.monotonic
        deadline = monotonic()
        while not self._closing:
            incoming = self._incoming
            while incoming:
                self._streams.append(incoming.popleft())
            if not self._streams:
                self._wait_for_streams()
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
            sent = self._send_all()
            busy = monotonic() - started
            stats.ticks += 1
            stats.busy_seconds += busy
            stats.max_tick_seconds = max(stats.max_tick_seconds, busy)
            stats.packets_sent += sent
            stats.active_streams = len(self._streams)
            deadline += self.tick_seconds
            self._sleep_until(deadline)
        self._drop_all()

    def _wait_for_streams(self) -> None:
        self._wake.clear()
        if not self._incoming and not self._closing:
            self._wake.wait()

    def _send_all(self) -> int:
        """One packet for every stream; drops the streams that are done. Packets sent."""
        streams = self._streams
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
                self.stats.send_errors += stream.send_errors
                self._notify_done(stream)
        return sent

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

    def _drop_all(self) -> None:
        """Closing: every stream still here is over (not finished)."""
        for stream in self._streams + list(self._incoming):
            stream.stopped = True
            self._notify_done(stream)
        self._streams = []
        self._incoming.clear()

    @staticmethod
    def _notify_done(stream: RtpStream) -> None:
        if stream.on_done is not None:
            try:
                stream.on_done(stream)
            except Exception:
                log.exception("RTP stream done-callback failed")


def _ask_for_realtime() -> None:
    try:  # this thread only (pid 0 = the calling thread on Linux)
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
    except (OSError, AttributeError) as exc:
        log.warning("RTP pacer: no real-time priority (%s); running at normal", exc)
