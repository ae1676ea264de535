"""A UDP socket that records every RTP packet it gets, with arrival times (test helper)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import numpy as np

from vestnik.telephony.rtp import g711
from vestnik.telephony.rtp.packets import RtpPacket, TelephoneEvent


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    packet: RtpPacket


class RtpReceiver:
    """Binds 127.0.0.1:<free port> and collects packets in a thread until closed."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self.packets: list[Received] = []
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closing:
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            self.packets.append(Received(time.monotonic(), RtpPacket.parse(data)))

    def close(self) -> None:
        self._closing = True
        self._thread.join(timeout=2)
        self.sock.close()

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.packets) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.packets) >= count

    def wait_quiet(self, quiet: float, timeout: float) -> None:
        """Return once no packet has arrived for ``quiet`` seconds (or at ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.packets[-1].at if self.packets else 0.0
            if self.packets and time.monotonic() - last >= quiet:
                return
            time.sleep(0.02)

    # -- analysis --------------------------------------------------------------------------
    def audio(self, payload_type: int) -> np.ndarray:
        """Decoded audio of the packets of one G.711 payload type, in sequence order."""
        decode = g711.alaw_decode if payload_type == 8 else g711.ulaw_decode
        chunks = [
            decode(r.packet.payload) for r in self.packets if r.packet.payload_type == payload_type
        ]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def events(self, payload_type: int) -> list[tuple[float, int, TelephoneEvent, RtpPacket]]:
        return [
            (r.at, r.packet.timestamp, TelephoneEvent.parse(r.packet.payload), r.packet)
            for r in self.packets
            if r.packet.payload_type == payload_type
        ]

    def key_presses(self, payload_type: int) -> list[tuple[str, float, int]]:
        """(key, arrival time of the first packet, duration in samples) per RFC 4733 event,
        one per distinct event timestamp."""
        presses: dict[int, tuple[str, float, int]] = {}
        for at, ts, event, _packet in self.events(payload_type):
            key = event.key or "?"
            if ts not in presses:
                presses[ts] = (key, at, event.duration)
            else:
                presses[ts] = (key, presses[ts][1], max(presses[ts][2], event.duration))
        return list(presses.values())


def socket_to(receiver: RtpReceiver) -> socket.socket:
    """A UDP socket on loopback connected to ``receiver``: what a call's RTP socket is."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.connect((receiver.host, receiver.port))
    return sock
