"""A loopback TCP proxy the test controls: the fault injector between vestnik and PostgreSQL.

It is not a stand-in for the database: bytes go to the real server while the link is up.
Modes:

- ``forward()``: relay both ways (new connections and, after a cut, again on the same port);
- ``black_hole()``: the peer that stops answering with the connection kept open. Connections
  stay accepted, new ones are accepted too, every byte from the client is read and dropped,
  nothing is relayed in either direction. Connections that lived through it are closed when
  the link is restored (their conversation with the server is broken);
- ``cut()``: close every connection (reset) and refuse new ones (nothing listens).

    with TcpProxy.in_front_of(database_url) as proxy:
        url = proxy.route(database_url)  # the same URL through the proxy
        proxy.black_hole(); ...; proxy.forward()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Self

from sqlalchemy.engine import make_url

LOOPBACK = "127.0.0.1"
CHUNK = 65536
CONTROL_TIMEOUT = 10.0


class Mode(StrEnum):
    FORWARD = "forward"
    BLACK_HOLE = "black_hole"
    CUT = "cut"


@dataclass(eq=False)
class _Link:
    """One client connection and, while forwarding, its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tainted: bool = False  # lived through a black hole: closed when the link is restored
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class TcpProxy:
    """Relays 127.0.0.1:<port> to ``target`` in a thread of its own (its own event loop)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = Mode.FORWARD
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listen.bind((LOOPBACK, 0))
        self.port = int(self._listen.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    @classmethod
    def in_front_of(cls, url: str) -> TcpProxy:
        """A proxy to the host and port of a SQLAlchemy URL."""
        parsed = make_url(url)
        return cls((parsed.host or LOOPBACK, parsed.port or 5432))

    def route(self, url: str) -> str:
        """``url`` (a SQLAlchemy URL of the target) with host and port of this proxy."""
        routed = make_url(url).set(host=LOOPBACK, port=self.port)
        return routed.render_as_string(hide_password=False)

    def __enter__(self) -> Self:
        self._thread.start()
        self._control(self._start_listening(self._listen))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._control(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONTROL_TIMEOUT)
        self._loop.close()

    # -- control (from the test's thread) ---------------------------------------------------

    def forward(self) -> None:
        self._control(self._set_mode(Mode.FORWARD))

    def black_hole(self) -> None:
        self._control(self._set_mode(Mode.BLACK_HOLE))

    def cut(self) -> None:
        self._control(self._set_mode(Mode.CUT))

    def _control(self, coro: object) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        future.result(CONTROL_TIMEOUT)

    # -- the proxy's loop -----------------------------------------------------------------

    async def _set_mode(self, mode: Mode) -> None:
        previous, self.mode = self.mode, mode
        if mode is Mode.BLACK_HOLE:
            for link in self._links:
                link.tainted = True
        elif mode is Mode.CUT:
            await self._close_all()
        elif previous is not Mode.FORWARD:
            for link in [link for link in self._links if link.tainted]:
                self._drop(link)
            if self._server is None:
                await self._start_listening(None)

    async def _start_listening(self, sock: socket.socket | None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK, self.port))
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            self._drop(link)

    def _drop(self, link: _Link) -> None:
        self._links.discard(link)
        link.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(client=writer, tainted=self.mode is not Mode.FORWARD)
        self._links.add(link)
        if not link.tainted:
            try:
                up_reader, link.upstream = await asyncio.open_connection(*self.target)
            except OSError:
                self._drop(link)
                return
            link.tasks.append(asyncio.create_task(self._pump(link, up_reader, writer)))
        await self._pump(link, reader, link.upstream)

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, to: asyncio.StreamWriter | None
    ) -> None:
        """Relay ``reader`` to ``to`` while forwarding; read and drop while black-holed."""
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(CHUNK):
                if link.tainted or to is None:
                    continue
                to.write(data)
                await to.drain()
        if link in self._links:
            self._drop(link)
