"""HTTP/1.1 requests written byte for byte on a plain socket: what a given client sends, with
no client library adding, reordering or re-encoding anything."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post_request(host: str, path: str, body: bytes, headers: list[tuple[str, str]]) -> bytes:
    """A POST as a client writes it: the request line, ``Host``, ``headers`` in this order, a
    ``Content-Length`` last, then ``body``."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(base_url: str, request: bytes, timeout: float = 10.0) -> RawReply:
    """Send ``request`` as is to the server of ``base_url`` and read one reply (its body
    delimited by ``Content-Length``)."""
    parts = urlsplit(base_url)
    assert parts.hostname and parts.port, base_url
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed before the headers: {data!r}")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in the body")
            body += chunk
    return RawReply(int(status_line.split()[1]), headers, body[:length])
