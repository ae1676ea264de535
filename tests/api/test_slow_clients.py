"""Slow and oversized clients against the service's own HTTP server (``vestnik.service``).

Raw sockets on loopback: a connection that trickles its headers or body, or sends nothing, is
dropped within a bound (``[server] header_timeout``, ``min_body_rate``); headers beyond
``MAX_HEADER_BYTES`` are refused; well-behaved keep-alive traffic is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from vestnik.api.server import MAX_HEADER_BYTES, GuardedHttpProtocol
from vestnik.config import Config, LogConfig
from vestnik.service import Service

HEADER_TIMEOUT = 0.5
MIN_BODY_RATE = 200.0  # bytes per second
KEEP_ALIVE = 5.0  # uvicorn's timeout_keep_alive
# How long the server may take beyond a deadline to drop a connection (a loaded machine).
SLACK = 2.5
HEALTH = b"GET /health HTTP/1.1\r\nHost: vestnik\r\n\r\n"

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@contextlib.asynccontextmanager
async def service(
    tmp_path: Path, sqlite_url: str, header_timeout: float = HEADER_TIMEOUT, **server: Any
) -> AsyncIterator[int]:
    """An API-only service (``server``: more ``[server]`` settings); yields its HTTP port."""
    config = Config(data_dir=str(tmp_path / "data"), log=LogConfig(level="warning"))
    config.database.url = sqlite_url
    config.server.port = 0
    config.server.header_timeout = header_timeout
    config.server.min_body_rate = MIN_BODY_RATE
    for key, value in server.items():
        setattr(config.server, key, value)
    config.dialer.enabled = False
    running = Service(config, workers=[])
    await running.start()
    try:
        yield running.http_port
    finally:
        await running.stop()


@pytest.fixture
async def port(tmp_path: Path, sqlite_url: str) -> AsyncIterator[int]:
    async with service(tmp_path, sqlite_url) as http_port:
        yield http_port


async def connect(port: int) -> Stream:
    return await asyncio.open_connection("127.0.0.1", port)


async def seconds_until_closed(reader: asyncio.StreamReader, limit: float) -> float:
    """Read (and drop) what the server sends until it closes the connection."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(limit):
        with contextlib.suppress(ConnectionResetError):
            while await reader.read(65_536):
                pass
    return loop.time() - started


async def trickle(writer: asyncio.StreamWriter, data: bytes, interval: float) -> None:
    """Send ``data`` a byte at a time until done or the server hangs up."""
    with contextlib.suppress(ConnectionError):
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(interval)


async def response(reader: asyncio.StreamReader) -> bytes:
    """One HTTP response with a content-length body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await asyncio.wait_for(reader.readexactly(length), 10)


async def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    reader, writer = await connect(port)
    elapsed = await seconds_until_closed(reader, HEADER_TIMEOUT + SLACK)
    assert elapsed >= HEADER_TIMEOUT * 0.8
    writer.close()


async def test_trickled_headers_are_cut_off(port: int) -> None:
    reader, writer = await connect(port)
    # 5 bytes a second: every gap is shorter than header_timeout, the headers never end.
    slowloris = b"POST /v4.0 HTTP/1.1\r\nHost: vestnik\r\nX-Padding: " + b"a" * 100
    sender = asyncio.create_task(trickle(writer, slowloris, 0.2))
    elapsed = await seconds_until_closed(reader, HEADER_TIMEOUT + SLACK)
    assert elapsed >= HEADER_TIMEOUT * 0.8
    assert not sender.done()  # cut off long before the trickle would have ended
    sender.cancel()
    writer.close()


async def test_trickled_body_is_cut_off(port: int) -> None:
    reader, writer = await connect(port)
    writer.write(
        b"POST /v4.0 HTTP/1.1\r\nHost: vestnik\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    # 10 bytes a second against a floor of 200: dropped soon after the grace.
    sender = asyncio.create_task(trickle(writer, b" " * 100_000, 0.1))
    elapsed = await seconds_until_closed(reader, HEADER_TIMEOUT + SLACK)
    assert elapsed >= HEADER_TIMEOUT * 0.8
    sender.cancel()
    writer.close()


async def test_a_steady_body_may_take_longer_than_the_grace(port: int) -> None:
    reader, writer = await connect(port)
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "list.calls", "params": {}}'.ljust(600)
    writer.write(
        b"POST /v4.0 HTTP/1.1\r\nHost: vestnik\r\nContent-Type: application/json\r\n"
        b"Content-Length: 600\r\n\r\n"
    )
    # 200 bytes every 0.4 s: 0.8 s in all, past the 0.5 s grace, but above the floor.
    for start in range(0, 600, 200):
        if start:
            await asyncio.sleep(0.4)
        writer.write(body[start : start + 200])
        await writer.drain()
    reply = await response(reader)
    assert reply.startswith(b"HTTP/1.1 200")
    assert b'"required_parameter_missed"' in reply  # the endpoint read the whole body
    writer.close()


async def test_keep_alive_requests_are_unaffected(port: int) -> None:
    reader, writer = await connect(port)
    # Headers in two parts, within header_timeout.
    writer.write(HEALTH[:10])
    await asyncio.sleep(HEADER_TIMEOUT / 5)
    writer.write(HEALTH[10:])
    assert (await response(reader)).startswith(b"HTTP/1.1 200")
    # Idle between requests longer than header_timeout: keep-alive governs that, not it.
    await asyncio.sleep(HEADER_TIMEOUT * 2)
    writer.write(HEALTH)
    assert (await response(reader)).startswith(b"HTTP/1.1 200")
    writer.close()


@pytest.mark.parametrize(
    "headers",
    [
        # Complete headers, larger than the limit, arriving in one go.
        b"".join(b"X-Padding-%d: %s\r\n" % (i, b"a" * 1000) for i in range(80)) + b"\r\n",
        # One header that never ends.
        b"X-Padding: " + b"a" * (4 * MAX_HEADER_BYTES),
    ],
    ids=["complete", "endless"],
)
async def test_oversized_headers_are_refused(
    tmp_path: Path, sqlite_url: str, headers: bytes
) -> None:
    # A header timeout far beyond the test: only the size bound can end the connection.
    async with service(tmp_path, sqlite_url, header_timeout=60) as http_port:
        reader, writer = await connect(http_port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: vestnik\r\n")
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(headers), 16_384):
                writer.write(headers[start : start + 16_384])
                await writer.drain()
        try:
            reply = await asyncio.wait_for(reader.read(), 10)
        except ConnectionResetError:
            reply = None  # closed with bytes of ours unread: the reset may swallow the 431
        writer.close()
    assert reply is None or reply.startswith(b"HTTP/1.1 431 ")


async def test_a_reply_sent_before_the_body_ended_does_not_hold_the_connection(
    tmp_path: Path, sqlite_url: str
) -> None:
    # uvicorn's keep-alive timer is cancelled by the rest of the body; ours closes it.
    async with service(tmp_path, sqlite_url, max_body_bytes=1000) as http_port:
        reader, writer = await connect(http_port)
        writer.write(
            b"POST /v4.0 HTTP/1.1\r\nHost: vestnik\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n800\r\n" + b" " * 0x800 + b"\r\n"
        )
        assert (await response(reader)).startswith(b"HTTP/1.1 413")
        writer.write(b"800\r\n" + b" " * 0x800 + b"\r\n0\r\n\r\n")  # the body ends, then idle
        elapsed = await seconds_until_closed(reader, KEEP_ALIVE + SLACK)
        assert elapsed >= KEEP_ALIVE * 0.8
        writer.close()


async def test_a_client_that_does_not_read_its_replies_is_dropped(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GuardedHttpProtocol, "send_timeout", 0.5)
    # Each request is a JSON string, so each reply (invalid_request) echoes ~1 MB.
    body = b'"' + b"x" * 1_000_000 + b'"'
    request = b"POST /v4.0 HTTP/1.1\r\nHost: vestnik\r\nContent-Length: %d\r\n\r\n" % len(body)
    count = kernel_send_buffer_max() // len(body) + 8  # more than the kernel can hold
    async with service(tmp_path, sqlite_url, max_body_bytes=2_000_000) as http_port:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)  # no autotuning
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", http_port))
        reader, writer = await asyncio.open_connection(sock=sock)
        sender = asyncio.create_task(send_all(writer, (request + body) * count))
        await asyncio.sleep(4)  # never reading meanwhile
        received = 0
        with contextlib.suppress(ConnectionResetError):
            async with asyncio.timeout(10):
                while chunk := await reader.read(1_000_000):
                    received += len(chunk)
        sender.cancel()
        writer.close()
    assert received < count * len(body)  # dropped before all replies went out


def kernel_send_buffer_max() -> int:
    """The most a TCP socket's send buffer grows to (Linux: tcp_wmem's maximum)."""
    return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])


async def send_all(writer: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        writer.write(data)
        await writer.drain()
