"""The test phone's RTP side: one socket per call, audio placed by RTP timestamp, RFC 4733
events logged."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vestnik.telephony.phone.records import Digit
from vestnik.telephony.rtp import sdp
from vestnik.telephony.rtp.g711 import get_codec
from vestnik.telephony.rtp.packets import (
    CLOCK_RATE,
    DTMF_KEYS,
    SAMPLES_PER_PACKET,
    RtpError,
    RtpPacket,
    TelephoneEvent,
    pack_header,
)

RTP_READ_TIMEOUT = 0.1  # seconds: how fast the receiver notices the call ended
MAX_TIMESTAMP_LEAD = 10.0  # seconds an RTP timestamp may run ahead of arrival time


@dataclass
class Heard:
    pcm: npt.NDArray[np.int16]
    events: list[Digit]
    packets: int
    lost: int
    first_packet_offset: float | None  # seconds after the answer
    audio_offset: float  # seconds after the answer where pcm[0] plays


class MediaReceiver:
    """One call's RTP socket: audio into a timestamp-placed buffer, RFC 4733 events logged.

    Every audio packet is answered with one packet of silence, so the caller sees a live,
    symmetric stream (some stacks time out a call without incoming RTP).
    """

    def __init__(self, host: str) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_DGRAM)  # fmt: skip
        self.sock.bind((host, 0))
        self.sock.settimeout(RTP_READ_TIMEOUT)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._chunks: list[tuple[int, bytes]] = []  # (sample position, G.711 bytes)
        self._events: list[Digit] = []
        self._packets = 0
        self._lost = 0
        self._first_mono: float | None = None

    def start(self, negotiated: sdp.Negotiated, answered_mono: float) -> None:
        self._negotiated = negotiated
        self._codec = get_codec(negotiated.codec.name)
        self._answered = answered_mono
        self._thread = threading.Thread(target=self._run, name="phone-rtp", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def finish(self) -> Heard:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.close()
        if not self._chunks:
            pcm = np.zeros(0, dtype=np.int16)
        else:
            end = max(pos + len(data) for pos, data in self._chunks)
            codes = np.full(end, self._codec.silence, dtype=np.uint8)
            for pos, data in self._chunks:
                codes[pos : pos + len(data)] = np.frombuffer(data, dtype=np.uint8)
            pcm = self._codec.decode(codes.tobytes())
        first = None if self._first_mono is None else self._first_mono - self._answered
        return Heard(pcm, self._events, self._packets, self._lost, first, first or 0.0)

    def _run(self) -> None:
        codec_pt = self._negotiated.codec.payload_type
        event_pt = self._negotiated.telephone_event
        # Timestamps are unwrapped per SSRC and anchored where that stream's first packet
        # arrived, so a new SSRC mid-call lands at the right place on the timeline.
        anchors: dict[int, tuple[int, int]] = {}  # ssrc -> (first timestamp, sample position)
        last_ts: dict[int, int] = {}
        unwrapped: dict[int, int] = {}
        last_seq: dict[int, int] = {}
        events_seen: dict[tuple[int, int, int], int] = {}  # (ssrc, ts, event) -> index
        reply_seq, reply_ts = secrets.randbits(16), secrets.randbits(32)
        reply_ssrc = secrets.randbits(32)
        silence = bytes([self._codec.silence]) * SAMPLES_PER_PACKET
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            try:
                packet = RtpPacket.parse(data)
            except RtpError:
                continue
            if self._first_mono is None:
                self._first_mono = now
            ssrc = packet.ssrc
            if ssrc not in anchors:
                position = round((now - self._first_mono) * CLOCK_RATE)
                anchors[ssrc] = (packet.timestamp, position)
                last_ts[ssrc] = packet.timestamp
                unwrapped[ssrc] = packet.timestamp
            else:
                step = (packet.timestamp - last_ts[ssrc] + (1 << 31)) % (1 << 32) - (1 << 31)
                unwrapped[ssrc] += step
                last_ts[ssrc] = packet.timestamp
            first_ts, anchor = anchors[ssrc]
            # Audio and telephone-events share one sequence space per SSRC.
            if ssrc in last_seq:
                gap = (packet.sequence_number - last_seq[ssrc]) % (1 << 16)
                if 1 < gap < 1000:
                    self._lost += gap - 1
            last_seq[ssrc] = packet.sequence_number
            if packet.payload_type == codec_pt:
                position = anchor + unwrapped[ssrc] - first_ts
                # A timestamp far ahead of the wall clock would make a huge, mostly empty
                # recording: such a packet is dropped, not placed.
                horizon = (now - self._first_mono + MAX_TIMESTAMP_LEAD) * CLOCK_RATE
                if 0 <= position <= horizon:
                    self._chunks.append((position, packet.payload))
                self._packets += 1
                reply = pack_header(codec_pt, reply_seq, reply_ts, reply_ssrc, False) + silence
                reply_seq += 1
                reply_ts += SAMPLES_PER_PACKET
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply, source)
            elif event_pt is not None and packet.payload_type == event_pt:
                self._on_event(packet, ssrc, now, events_seen)

    def _on_event(
        self, packet: RtpPacket, ssrc: int, now: float, seen: dict[tuple[int, int, int], int]
    ) -> None:
        try:
            event = TelephoneEvent.parse(packet.payload)
        except RtpError:
            return
        key = DTMF_KEYS.get(event.event)
        if key is None:
            return
        # One event = one RTP timestamp; its packets repeat with a growing duration.
        ident = (ssrc, packet.timestamp, event.event)
        duration = event.duration / CLOCK_RATE if event.end else 0.0
        if ident not in seen:
            seen[ident] = len(self._events)
            self._events.append(Digit(key, now - self._answered, duration, "rfc4733"))
        elif event.end:
            index = seen[ident]
            self._events[index] = dataclasses.replace(self._events[index], duration=duration)
