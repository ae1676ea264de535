"""The channel between the main process and the pacer's child process, and ``RemoteStream``.

Frames on a Unix stream socket: a 4-byte big-endian length, then a pickle of a tuple whose
first element names the message. A call's connected UDP socket travels with its ``open`` frame
(SCM_RIGHTS). Only our own two processes speak on the channel (a socketpair).

Parent → child:

- ``("open", id, codec name, event payload type, items)``: a new stream on the passed socket;
- ``("items", id, items)``: more items (a ``("pause", seconds)`` item is silence, encoded by the
  child with the stream's codec);
- ``("buffer", key, audio)``: an encoded message, sent once however many streams play it;
  ``("play", id, key)`` queues it on a stream; ``("drop", key)``: no stream needs it any more;
- ``("finish", id)``, ``("stop", id)``, ``("cut", id)``: ``RtpStream.finish`` / ``stop`` /
  ``cut`` (a ``Mark`` travels as an item of ``items``);
- ``("close",)``: end the child.

Child → parent: ``("ready",)``, ``("first", id, monotonic time)``, ``("mark", id, token,
tick)`` (``RtpStream.on_mark``), ``("done", id, finished, packets, errors)`` and ``("stats",
PacerStats as a dict, recent tick lags)``.
"""

from __future__ import annotations

import pickle
import socket
import struct
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from vestnik.telephony.rtp.pacer.stream import Mark, ToneEvent

_LENGTH = struct.Struct("!I")

# An item that stands for ``seconds`` of silence: the child encodes it with the stream's codec.
Pause = tuple[str, float]


def pause_item(seconds: float) -> Pause:
    return ("pause", seconds)


def is_pause(item: object) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and item[0] == "pause"


def send_frame(chan: socket.socket, message: object, fds: list[int] | None = None) -> None:
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


def recv_frame(chan: socket.socket) -> tuple[Any, list[int]]:
    """The next message and the file descriptors that came with it; ``EOFError`` at the end."""
    header, fds, _flags, _addr = socket.recv_fds(chan, 4, 4)
    if not header:
        raise EOFError
    if len(header) < 4:
        header += _recv_exact(chan, 4 - len(header))
    (length,) = _LENGTH.unpack(header)
    return pickle.loads(_recv_exact(chan, length)), fds


class StreamOwner(Protocol):
    """What a ``RemoteStream`` needs of its pacer (``ProcessPacer``)."""

    def send(self, message: object, fds: list[int] | None = None) -> None: ...
    def play(self, stream: RemoteStream, audio: bytes) -> None: ...


class RemoteStream:
    """The main process's view of a stream the child pacer sends. Same surface as
    ``RtpStream`` for callers: ``play``, ``pause``, ``event``, ``mark``, ``extend``, ``finish``,
    ``stop``,
    ``cut``, ``on_mark`` (called on the pacer's reader thread), ``first_sent_at``, ``finished``,
    ``packets_sent``."""

    def __init__(
        self, owner: StreamOwner, stream_id: int, on_done: Callable[[Any], None] | None
    ) -> None:
        self.owner = owner
        self.stream_id = stream_id
        self.on_done = on_done
        self.on_mark: Callable[[Any, int, int], None] | None = None
        self.first_sent_at: float | None = None
        self.finished = False
        self.stopped = False
        self.done = False
        self.packets_sent = 0
        self.send_errors = 0
        self.buffers: list[int] = []  # keys of the shared buffers this stream plays

    def play(self, audio: bytes) -> None:
        if audio:
            self.owner.play(self, audio)

    def pause(self, seconds: float) -> None:
        self.owner.send(("items", self.stream_id, [pause_item(seconds)]))

    def event(self, event: ToneEvent) -> None:
        self.owner.send(("items", self.stream_id, [event]))

    def mark(self, token: int) -> None:
        self.owner.send(("items", self.stream_id, [Mark(token)]))

    def extend(self, items: Iterable[Any]) -> None:
        """Queue items as ``RtpStream.extend`` (audio here is sent along, not shared)."""
        items = list(items)
        if items:
            self.owner.send(("items", self.stream_id, items))

    def finish(self) -> None:
        self.owner.send(("finish", self.stream_id))

    def cut(self) -> None:
        self.owner.send(("cut", self.stream_id))

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.owner.send(("stop", self.stream_id))
