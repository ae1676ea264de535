"""The webhook POST client against raw loopback servers that misbehave in ordinary ways."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from vestnik.events.http import HttpError, PostClient

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


async def test_reuses_connections_and_survives_servers_closing_idle_ones() -> None:
    connections = 0
    requests: list[bytes] = []

    async def one_request_then_silent_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Answers keep-alive style but drops the connection afterwards (an idle timeout).
        nonlocal connections
        connections += 1
        requests.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    server, url = await serve(one_request_then_silent_close)
    client = PostClient("test/1")
    try:
        for _ in range(3):
            assert await client.post(url, b'{"a":1}', {"Content-Type": "application/json"}) == 200
            await asyncio.sleep(0.1)  # the server has closed the idle connection by now
    finally:
        await client.aclose()
        server.close()
    assert connections == 3
    assert len(requests) == 3
    assert requests[0].startswith(b"POST /hook HTTP/1.1\r\n")
    assert b"content-length: 7" in requests[0].lower() and requests[0].endswith(b'{"a":1}')


async def test_keep_alive_connection_is_reused() -> None:
    connections = 0

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                await read_request(reader)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server, url = await serve(keep_alive)
    client = PostClient("test/1")
    try:
        statuses = [await client.post(url, b"x", {}) for _ in range(5)]
    finally:
        await client.aclose()
        server.close()
    assert statuses == [204] * 5
    assert connections == 1


async def test_huge_or_close_delimited_answers_and_truncation() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 200_000)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def close_delimited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 202 Accepted\r\n\r\nbody until close")
        await writer.drain()
        writer.close()

    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
        await writer.drain()
        writer.close()

    client = PostClient("test/1", max_response_bytes=1000)
    try:
        for handler, expected in ((huge, 500), (close_delimited, 202)):
            server, url = await serve(handler)
            assert await client.post(url, b"x", {}) == expected
            server.close()
        server, url = await serve(truncated)
        with pytest.raises(HttpError):
            await client.post(url, b"x", {})
        server.close()
        with pytest.raises(HttpError):
            await client.post(url.replace("http://", "ftp://"), b"x", {})
    finally:
        await client.aclose()
