"""``CalleeReceiver``: the callee's RTP, read on the asyncio loop.

The call's RTP socket stays open in the main process while the pacer (often a child process,
holding a duplicate of it) sends from it; ``start`` registers it with ``loop.add_reader``, and
``stop`` must come BEFORE the socket is closed (the child holds the same open file description,
so epoll would go on reporting it readable). Each wakeup reads at most ``MAX_PACKETS`` datagrams
(level-triggered: the rest wakes the loop again), so one flooded socket cannot hold the loop.

What it makes of the packets (``rtp.packets`` parses them; garbage is counted and dropped):

- G.711 audio (payload type 0 or 8, whatever the negotiation said: the law follows the payload
  type) becomes 20 ms frames (160 samples) placed by RTP timestamp relative to the first
  packet: a gap of up to ``FILL_GAP_SAMPLES`` is filled with silence frames; a longer one (up to
  ``MAX_JUMP_SAMPLES``) is skipped (the next frame's position says where it belongs); a larger
  jump, a timestamp going back more than ``MAX_REORDER_SAMPLES`` or a new SSRC re-bases the
  stream so it continues where it was. Late and duplicate audio is dropped.
- RFC 4733 telephone-events (the negotiated payload type, else the one we offered) become key
  presses: one per event, known by its (SSRC, RTP timestamp), counted at the first packet of it
  that arrives (its start, a repeat or only its end packets), so lost or repeated end packets
  neither lose nor double a press; a long event split by duration overflow is one press.
- Other payload types (comfort noise, video, anything) are ignored.

With ``inband`` on, frames also go through ``dtmf.InbandDtmf`` until the first RFC 4733 event
arrives; from then on only events count (a press the in-band detector already counted within
``SAME_PRESS_SECONDS`` before that first event is not counted again).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from vestnik.calls.audio import Pcm
from vestnik.telephony.listen.dtmf import FRAME_SAMPLES, InbandDtmf
from vestnik.telephony.rtp.g711 import PCMA, PCMU, G711Codec
from vestnik.telephony.rtp.packets import (
    PT_TELEPHONE_EVENT_DEFAULT,
    RtpError,
    RtpPacket,
    TelephoneEvent,
)

log = logging.getLogger(__name__)

# A listening call's socket buffer (the port pool's default of 4096 bytes is for unread
# sockets): about 1.5 s of G.711 packets as the kernel accounts them.
RECEIVE_BUFFER_BYTES = 128 * 1024
MAX_PACKETS = 32  # datagrams read per wakeup
MAX_DATAGRAM = 2048
FILL_GAP_SAMPLES = 8000  # 1 s: gaps up to this are silence frames
MAX_JUMP_SAMPLES = 60 * 8000  # longer gaps up to a minute: skipped, positions kept
MAX_REORDER_SAMPLES = 8000  # a timestamp more than 1 s back: a new timeline
RECENT_EVENTS = 32  # event identities remembered for de-duplication
SAME_PRESS_SECONDS = 0.5
_AUDIO_CODECS: dict[int, G711Codec] = {PCMA.payload_type: PCMA, PCMU.payload_type: PCMU}
_EMPTY = np.zeros(0, dtype=np.int16)

FrameListener = Callable[[int, Pcm], None]  # (position in samples from the first packet, frame)
KeyListener = Callable[[str, float], None]  # (key, time.monotonic() when it was known)


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class FrameAssembler:
    """RTP timestamps and G.711 payloads in, 20 ms frames at their positions out."""

    def __init__(self, on_frame: FrameListener) -> None:
        self.on_frame = on_frame
        self.ssrc: int | None = None
        self.base = 0  # the RTP timestamp of position 0
        self.position = 0  # where the pending samples start
        self.pending: Pcm = _EMPTY

    @property
    def end(self) -> int:
        """The position of the next sample expected."""
        return self.position + len(self.pending)

    def note(self, ssrc: int, timestamp: int) -> None:
        """A packet of the stream (audio or event): the first sets the timeline; a new SSRC
        continues it from where it is."""
        if self.ssrc is None:
            self.ssrc, self.base = ssrc, timestamp
        elif ssrc != self.ssrc:
            self.ssrc, self.base = ssrc, (timestamp - self.end) & 0xFFFFFFFF

    def audio(self, ssrc: int, timestamp: int, pcm: Pcm) -> None:
        self.note(ssrc, timestamp)
        offset = _signed32(timestamp - self.base)
        end = self.end
        if offset < end - MAX_REORDER_SAMPLES or offset > end + MAX_JUMP_SAMPLES:
            self.base, offset = (timestamp - end) & 0xFFFFFFFF, end  # a new timeline
        if offset < end:  # late or repeated: keep only what is new
            pcm = pcm[end - offset :]
            offset = end
            if not len(pcm):
                return
        if offset > end:
            self._flush_partial()
            if offset - self.end <= FILL_GAP_SAMPLES:
                self._silence_to(offset)
            self.position = offset
        self.pending = np.concatenate((self.pending, pcm)) if len(self.pending) else pcm
        self._emit()

    def _silence_to(self, offset: int) -> None:
        while self.position + FRAME_SAMPLES <= offset:
            self.on_frame(self.position, np.zeros(FRAME_SAMPLES, dtype=np.int16))
            self.position += FRAME_SAMPLES

    def _flush_partial(self) -> None:
        """A gap follows: pad the pending samples to a whole frame with silence."""
        if len(self.pending):
            frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
            frame[: len(self.pending)] = self.pending
            self.pending = _EMPTY
            self.on_frame(self.position, frame)
            self.position += FRAME_SAMPLES

    def _emit(self) -> None:
        pending = self.pending
        whole = len(pending) - len(pending) % FRAME_SAMPLES
        for start in range(0, whole, FRAME_SAMPLES):
            self.on_frame(self.position, pending[start : start + FRAME_SAMPLES])
            self.position += FRAME_SAMPLES
        self.pending = pending[whole:] if whole else pending


class EventKeys:
    """RFC 4733 packets in, one key per event out."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[int, int], int] = OrderedDict()  # identity -> event code
        self._last: tuple[int, int, int, bool] | None = None  # ssrc, timestamp, code, ended

    def packet(self, ssrc: int, timestamp: int, marker: bool, event: TelephoneEvent) -> str | None:
        identity = (ssrc, timestamp)
        last = self._last
        if identity in self._seen:
            if event.end and last is not None and last[:2] == identity:
                self._last = (*identity, last[2], True)
            return None
        continued = (
            last is not None
            and not marker
            and last[0] == ssrc
            and last[2] == event.event
            and not last[3]
            and 0 < (timestamp - last[1]) & 0xFFFFFFFF <= 0x10000 + 8000
        )
        self._seen[identity] = event.event
        if len(self._seen) > RECENT_EVENTS:
            self._seen.popitem(last=False)
        self._last = (ssrc, timestamp, event.event, event.end)
        if continued:  # a long press past 0xFFFF ticks goes on under a new timestamp
            return None
        return event.key


class CalleeReceiver:
    """Reads one call's socket on the loop; frames to ``on_frame``, keys to ``on_key``."""

    def __init__(
        self,
        sock: socket.socket,
        event_payload_type: int | None,
        on_frame: FrameListener | None = None,
        on_key: KeyListener | None = None,
        inband: bool = True,
    ) -> None:
        self.sock = sock
        self.event_payload_type = (
            PT_TELEPHONE_EVENT_DEFAULT if event_payload_type is None else event_payload_type
        )
        self.on_frame = on_frame
        self.on_key = on_key
        self.inband: InbandDtmf | None = InbandDtmf() if inband else None
        self.assembler = FrameAssembler(self._frame)
        self.events = EventKeys()
        self.first_arrival: float | None = None  # time.monotonic() of the first RTP packet
        self.packets = 0
        self.bad_packets = 0
        self.ignored_packets = 0
        self.events_seen = False
        self._inband_last: tuple[str, float] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        self._loop, self._fd = loop, self.sock.fileno()
        loop.add_reader(self._fd, self._readable)

    def stop(self) -> None:
        """Stop reading (idempotent); call it before the socket is closed."""
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._fd)

    def _readable(self) -> None:
        for _ in range(MAX_PACKETS):
            if self._loop is None:
                return
            try:
                data = self.sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP errors of our own sends surface here: not fatal
                continue
            try:
                self.datagram(data)
            except Exception:  # a listener's bug must not stop the call's reading
                log.exception("callee RTP: a datagram could not be handled")

    def datagram(self, data: bytes, now: float | None = None) -> None:
        """One received datagram (public for tests)."""
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self.bad_packets += 1
            return
        pt = packet.payload_type
        codec = _AUDIO_CODECS.get(pt)
        if codec is None and pt != self.event_payload_type:
            self.ignored_packets += 1
            return
        event: TelephoneEvent | None = None
        if codec is None:
            try:
                event = TelephoneEvent.parse(packet.payload)
            except RtpError:
                self.bad_packets += 1
                return
        self.packets += 1
        if self.first_arrival is None:
            self.first_arrival = time.monotonic() if now is None else now
        if event is None:
            if packet.payload and codec is not None:
                self.assembler.audio(packet.ssrc, packet.timestamp, codec.decode(packet.payload))
            return
        self.assembler.note(packet.ssrc, packet.timestamp)
        key = self.events.packet(packet.ssrc, packet.timestamp, packet.marker, event)
        if key is not None:
            self._event_key(key, time.monotonic() if now is None else now)

    def _event_key(self, key: str, at: float) -> None:
        first = not self.events_seen
        self.events_seen = True
        self.inband = None  # events from now on: in-band detection stops
        last = self._inband_last
        if first and last is not None and last[0] == key and at - last[1] <= SAME_PRESS_SECONDS:
            return  # the in-band detector counted this press already
        if self.on_key is not None:
            self.on_key(key, at)

    def _frame(self, position: int, frame: Pcm) -> None:
        if self.on_frame is not None:
            self.on_frame(position, frame)
        if self.inband is not None:
            key = self.inband.feed(frame)
            if key is not None:
                at = time.monotonic()
                self._inband_last = (key, at)
                if self.on_key is not None:
                    self.on_key(key, at)
