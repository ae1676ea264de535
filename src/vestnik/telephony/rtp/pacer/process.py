"""The pacer in a child process: ``ProcessPacer`` (main process side) and the child's main.

In the main process the pacer thread shares the GIL with sippy, asyncio and the garbage
collector; at 1000 calls a full collection of sippy's objects paused every thread for
70-180 ms (measured), and every packet's send() hands the GIL to whoever waits for it.
``ProcessPacer`` runs the same ``RtpPacer`` in a small child process instead. The main process
passes each call's connected UDP socket, the items to play and each distinct encoded message
once; the child reports first-packet times, marks reached, finished streams and stats (``ipc``
has the frames).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from vestnik.telephony.rtp.g711 import G711Codec, get_codec
from vestnik.telephony.rtp.pacer.ipc import (
    RemoteStream,
    is_pause,
    recv_frame,
    send_frame,
)
from vestnik.telephony.rtp.pacer.scheduler import PacerStats, RtpPacer
from vestnik.telephony.rtp.pacer.stream import Item, RtpStream, silence, ticks

log = logging.getLogger(__name__)

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
    "from vestnik.telephony.rtp.pacer.process import child_main\n"
    "child_main(int(sys.argv[1]), realtime=sys.argv[2] == 'realtime')\n"
)


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
        self._process: subprocess.Popen[bytes] | None = None
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
        self.send(("close",))
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
        codec: G711Codec,
        event_payload_type: int | None,
        on_done: Callable[[Any], None] | None = None,
        items: Iterable[Item] = (),
    ) -> RemoteStream:
        with self._lock:
            stream_id = self._next_id
            self._next_id += 1
            stream = RemoteStream(self, stream_id, on_done)
            self._streams[stream_id] = stream
        message = ("open", stream_id, codec.name, event_payload_type, list(items))
        self.send(message, fds=[sock.fileno()])
        return stream

    # -- RemoteStream's side (ipc.StreamOwner) ----------------------------------------------
    def send(self, message: object, fds: list[int] | None = None) -> None:
        chan = self._chan
        if chan is None:
            return
        try:
            with self._lock:
                send_frame(chan, message, fds)
        except OSError:
            log.exception("RTP pacer process is gone")

    def play(self, stream: RemoteStream, audio: bytes) -> None:
        key = id(audio)  # the bytes object stays referenced here while any stream uses it
        with self._lock:
            entry = self._buffers.get(key)
            known = entry is not None and entry[0] is audio
            self._buffers[key] = (audio, (entry[1] if known and entry else 0) + 1)
            stream.buffers.append(key)
            if not known:
                self.send(("buffer", key, audio))
            self.send(("play", stream.stream_id, key))

    # -- the reader thread --------------------------------------------------------------------
    def _read(self) -> None:
        chan = self._chan
        assert chan is not None
        while True:
            try:
                message, _fds = recv_frame(chan)
            except (EOFError, OSError):
                break
            self._on_message(message)
        self._fail_all()

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            self._ready.set()
        elif kind == "first":
            stream = self._streams.get(message[1])
            if stream is not None:
                stream.first_sent_at = message[2]
        elif kind == "mark":
            stream = self._streams.get(message[1])
            if stream is not None and stream.on_mark is not None:
                try:
                    stream.on_mark(stream, message[2], message[3])
                except Exception:
                    log.exception("RTP stream mark-callback failed")
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

    def _release_buffers(self, stream: RemoteStream) -> None:
        with self._lock:
            for key in stream.buffers:
                audio, users = self._buffers[key]
                if users <= 1:
                    del self._buffers[key]
                    self.send(("drop", key))
                else:
                    self._buffers[key] = (audio, users - 1)
            stream.buffers = []

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


# --- the child process ----------------------------------------------------------------------


class _Child:
    """The child process: an ``RtpPacer`` driven by frames from the parent."""

    def __init__(self, chan: socket.socket, realtime: bool) -> None:
        self.chan = chan
        self.pacer = RtpPacer(realtime=realtime)
        self.streams: dict[int, RtpStream] = {}
        self.buffers: dict[int, bytes] = {}
        self.closing = threading.Event()
        self._send_lock = threading.Lock()

    def run(self) -> None:
        self.pacer.start()
        threading.Thread(target=self._report, name="rtp-pacer-report", daemon=True).start()
        self.send(("ready",))
        try:
            while not self.closing.is_set():
                try:
                    message, fds = recv_frame(self.chan)
                except (EOFError, OSError):
                    break
                if message[0] == "close":
                    break
                self._on_message(message, fds)
        finally:
            self.closing.set()
            self.pacer.close()
            self.chan.close()

    def send(self, message: object) -> None:
        with self._send_lock:
            try:
                send_frame(self.chan, message)
            except OSError:
                self.closing.set()

    def _on_message(self, message: tuple[Any, ...], fds: list[int]) -> None:
        kind = message[0]
        if kind == "open":
            self._open(*message[1:], sock=socket.socket(fileno=fds[0]))
        elif kind == "buffer":
            self.buffers[message[1]] = message[2]
        elif kind == "drop":
            self.buffers.pop(message[1], None)
        elif kind in _STREAM_MESSAGES:
            stream = self.streams.get(message[1])
            if stream is not None:  # else it is done already
                self._on_stream_message(stream, message)

    def _on_stream_message(self, stream: RtpStream, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "items":
            stream.extend(_item(i, stream.codec) for i in message[2])
        elif kind == "play":
            audio = self.buffers.get(message[2])
            if audio is not None:
                stream.play(audio)
        elif kind == "finish":
            stream.finish()
        elif kind == "stop":
            stream.stop()
        elif kind == "cut":
            stream.cut()

    def _open(
        self,
        stream_id: int,
        codec_name: str,
        event_payload_type: int | None,
        items: list[Any],
        *,
        sock: socket.socket,
    ) -> None:
        codec = get_codec(codec_name)
        stream = RtpStream(sock, codec, event_payload_type, lambda s: self._done(stream_id, s))
        stream.on_first = lambda s: self.send(("first", stream_id, s.first_sent_at))
        stream.on_mark = lambda s, token, tick: self.send(("mark", stream_id, token, tick))
        stream.extend(_item(i, codec) for i in items)
        self.streams[stream_id] = stream
        self.pacer.adopt(stream)

    def _done(self, stream_id: int, stream: RtpStream) -> None:
        self.streams.pop(stream_id, None)
        stream.sock.close()
        self.send(("done", stream_id, stream.finished, stream.packets_sent, stream.send_errors))

    def _report(self) -> None:
        reported = 0
        pacer = self.pacer
        while not self.closing.wait(STATS_INTERVAL):
            lags = list(pacer.recent_lags)
            fresh = lags[-min(len(lags), pacer.stats.ticks - reported) :] if lags else []
            reported = pacer.stats.ticks
            self.send(("stats", dataclasses.asdict(pacer.stats), fresh))


_STREAM_MESSAGES = frozenset({"items", "play", "finish", "stop", "cut"})


def _item(value: Any, codec: G711Codec) -> Any:
    if is_pause(value):
        return silence(codec, ticks(value[1]))
    return value


def child_main(fd: int, realtime: bool = False) -> None:
    """The child's entry point (``_CHILD_BOOTSTRAP``): serve the channel on ``fd``."""
    _Child(socket.socket(fileno=fd), realtime).run()
