"""UDP sockets for RTP, one per call, from the configured port range."""

from __future__ import annotations

import socket
import threading

# We never read the callee's audio: a small receive buffer keeps what the kernel holds for an
# unread socket small (Linux doubles this value and enforces its own minimum).
RECEIVE_BUFFER_BYTES = 4096


class PortsExhausted(RuntimeError):
    """Every even port of the RTP range is in use."""


class RtpPortPool:
    """Binds sockets on even ports of ``[port_min, port_max]`` (RTCP would take the odd one
    above), round-robin so a just-freed port is not reused at once."""

    def __init__(self, bind_host: str, port_min: int, port_max: int) -> None:
        if not 0 < port_min <= port_max < 65536:
            raise ValueError(f"bad RTP port range {port_min}..{port_max}")
        self.bind_host = bind_host
        first = port_min + (port_min % 2)
        self._ports = list(range(first, port_max + 1, 2))
        if not self._ports:
            raise ValueError(f"RTP port range {port_min}..{port_max} has no even port")
        self._next = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self._ports)

    def open(self) -> socket.socket:
        """A non-blocking UDP socket bound to a free port of the range."""
        family = socket.AF_INET6 if ":" in self.bind_host else socket.AF_INET
        with self._lock:
            for _ in range(len(self._ports)):
                port = self._ports[self._next]
                self._next = (self._next + 1) % len(self._ports)
                sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    sock.bind((self.bind_host, port))
                except OSError:
                    sock.close()
                    continue
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
                return sock
        raise PortsExhausted(
            f"no free RTP port in {self._ports[0]}..{self._ports[-1]} on {self.bind_host}"
        )
